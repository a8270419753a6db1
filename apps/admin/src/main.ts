import { adminConfigSchema } from '@herald/config';
import { createLogger } from '@herald/logger';
import { loadServiceConfigOrExit, runHttpService } from '@herald/service';
import { adminService } from './service';

const config = loadServiceConfigOrExit(adminConfigSchema, process.env);
const logger = createLogger({ service: 'admin', level: config.LOG_LEVEL });

runHttpService({ ...adminService(config, logger), config, logger });
