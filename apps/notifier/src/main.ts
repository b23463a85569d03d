import 'reflect-metadata';
import { runMain, runWorker } from '@certctl/observability';
import { NotifierModule } from './notifier.module';

runMain(() => runWorker('notifier', [NotifierModule]), 'notifier');
