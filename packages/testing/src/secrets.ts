import { createHash } from 'node:crypto';
import { SecretKeyring } from '@herald/db';

/**
 * The secret key the tests seal channel credentials with: the processes they start get it as
 * HERALD_SECRET_KEY (startProcess), code in the test process uses TEST_SECRETS. Fixed, so both
 * sides agree; it protects nothing. A test about the keys themselves makes its own.
 */
const TEST_KEY_BYTES = createHash('sha256').update('herald test secret key').digest();

/** HERALD_SECRET_KEY as written in an environment (base64). */
export const TEST_SECRET_KEY = TEST_KEY_BYTES.toString('base64');

export const TEST_SECRETS = SecretKeyring.of(TEST_KEY_BYTES);
