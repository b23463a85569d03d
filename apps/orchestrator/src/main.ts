import 'reflect-metadata';
import { runMain, runWorker } from '@certctl/observability';
import { ORCHESTRATOR_FEATURES } from './orchestrator.features';

runMain(() => runWorker('orchestrator', ORCHESTRATOR_FEATURES), 'orchestrator');
