import type { Principal } from '../access/principal.ts';
import type { TokenStore } from '../access/tokens.ts';
import type { ConfigFeed } from '../events/feed.ts';
import type { ConfigReads } from '../store/cache.ts';
import type { ConfigStore } from '../store/configStore.ts';

/** What every resolver gets: the domain stores, this instance's change feed, and who is asking. */
export interface Context {
  store: ConfigStore;
  tokens: TokenStore;
  feed: ConfigFeed;
  /** The token the request carried; null when it carried none. */
  viewer: Principal | null;
  /** The name recorded as actor in the audit log: the token's name. */
  actor: string;
  /** Set when the answer may be kept (server/graphql/answers.ts): the configs the operation read. */
  reads?: ConfigReads;
}
