import 'reflect-metadata';
import { runMain, runWorker } from '@certctl/observability';

// The notifier's queue processors arrive with their own issues; today it boots, connects and reports health.
runMain(() => runWorker('notifier'));
