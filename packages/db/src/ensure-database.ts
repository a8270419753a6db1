import { Client } from 'pg';

const INVALID_CATALOG_NAME = '3D000';

/**
 * Creates the database named in `url` when it does not exist yet, so that `pnpm start` and the
 * compose `migrate` service work on a fresh server. Connects to the server's `postgres`
 * maintenance database for that. Returns whether it created the database.
 */
export async function ensureDatabaseExists(url: string): Promise<boolean> {
  const probe = new Client({ connectionString: url });
  try {
    await probe.connect();
    return false;
  } catch (error) {
    if ((error as { code?: string }).code !== INVALID_CATALOG_NAME) throw error;
  } finally {
    await probe.end().catch(() => undefined);
  }

  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  const maintenance = new URL(url);
  maintenance.pathname = '/postgres';
  const admin = new Client({ connectionString: maintenance.toString() });
  await admin.connect();
  try {
    // The name comes from configuration; escapeIdentifier quotes it so it is only ever a name.
    await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
    return true;
  } catch (error) {
    // Another migrate process created it first: that is the state we wanted.
    if ((error as { code?: string }).code === '42P04') return false;
    throw error;
  } finally {
    await admin.end();
  }
}
