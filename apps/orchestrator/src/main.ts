import 'reflect-metadata';
import { runMain, runWorker } from '@certctl/observability';

// The orchestrator's queue processors arrive with their own issues; today it boots, connects and reports health.
runMain(() => runWorker('orchestrator'));
