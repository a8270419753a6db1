import { workerConfigSchema } from '@herald/config';
import { createLogger } from '@herald/logger';
import { loadServiceConfigOrExit, runHttpService } from '@herald/service';
import { workerService } from './service';

const config = loadServiceConfigOrExit(workerConfigSchema, process.env);
const logger = createLogger({ service: 'worker', level: config.LOG_LEVEL });

runHttpService({ ...workerService(config, logger), config, logger });
