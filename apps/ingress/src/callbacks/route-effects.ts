import { findSiblingConnectionId, type Db, type OptOutSignal, type ReceiptRow, type SecretKeyring } from '@herald/db';
import { LoadingCache } from '../loading-cache';
import { credential, type CallbackConnection, type CallbackEffects, type ProviderCallbacks } from './provider-callbacks';

export interface RoutedEffects {
  receipts: ReceiptRow[];
  optOuts: OptOutSignal[];
  /** Facts about a number or agent no connection of Herald serves with this secret: ignored. */
  unrouted: number;
}

/**
 * Gives each fact of a verified callback the connection it belongs to. Most are about the
 * connection called; on a shared webhook (one Meta app for several WhatsApp numbers, one RBM
 * partner webhook for several agents) a fact about another number or agent belongs to the
 * connection verified by the same secret that names it — never to this one, whose contacts
 * may share a phone number with that bot's. Look-ups are cached like connections.
 */
export class EffectRouter {
  private readonly siblings: LoadingCache<string | null>;

  constructor(db: Db, secrets: SecretKeyring) {
    this.siblings = new LoadingCache(
      (key) => {
        const { connectionId, secretName, scopeName, scopeValue } = JSON.parse(key) as Record<string, string>;
        return findSiblingConnectionId(db, secrets, connectionId!, { secretName: secretName!, scopeName: scopeName!, scopeValue: scopeValue! });
      },
      2_000,
      10_000,
    );
  }

  async route(connection: CallbackConnection, callbacks: ProviderCallbacks, effects: CallbackEffects): Promise<RoutedEffects> {
    const owners = new Map<string | undefined, Promise<string | null>>();
    const ownerOf = (via: string | undefined): Promise<string | null> => {
      const { shared } = callbacks;
      if (via === undefined || !shared || via === credential(connection, shared.scopeName)) return Promise.resolve(connection.id);
      let owner = owners.get(via);
      if (!owner) {
        owner = this.siblings.get(JSON.stringify({ connectionId: connection.id, ...shared, scopeValue: via }));
        owners.set(via, owner);
      }
      return owner;
    };
    const routed: RoutedEffects = { receipts: [], optOuts: [], unrouted: 0 };
    for (const { via, ...receipt } of effects.receipts) {
      const connectionId = await ownerOf(via);
      if (connectionId) routed.receipts.push({ ...receipt, connectionId });
      else routed.unrouted++;
    }
    for (const { via, ...signal } of effects.optOuts) {
      const connectionId = await ownerOf(via);
      if (connectionId) routed.optOuts.push({ ...signal, connectionId });
      else routed.unrouted++;
    }
    return routed;
  }
}
