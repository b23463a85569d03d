import 'reflect-metadata';
import { runMain, runWorker } from '@certctl/observability';
import { SCANNER_FEATURES } from './scanner.features';

runMain(() => runWorker('scanner', SCANNER_FEATURES), 'scanner');
