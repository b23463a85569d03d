import { Module } from '@nestjs/common';
import { IntermediatesController } from './intermediates.controller';
import { IntermediatesService } from './intermediates.service';

@Module({ controllers: [IntermediatesController], providers: [IntermediatesService] })
export class IntermediatesModule {}
