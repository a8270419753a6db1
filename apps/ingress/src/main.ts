import { ingressConfigSchema } from '@herald/config';
import { createLogger } from '@herald/logger';
import { loadServiceConfigOrExit, runHttpService } from '@herald/service';
import { ingressService } from './service';

const config = loadServiceConfigOrExit(ingressConfigSchema, process.env);
const logger = createLogger({ service: 'ingress', level: config.LOG_LEVEL });

runHttpService({ ...ingressService(config, logger), config, logger, processes: config.INGRESS_PROCESSES });
