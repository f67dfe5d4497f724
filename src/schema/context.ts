import type { ConfigFeed } from '../events/feed.ts';
import type { ConfigStore } from '../store/configStore.ts';

/** What every resolver gets: the domain store, this instance's change feed, and who is asking. */
export interface Context {
  store: ConfigStore;
  feed: ConfigFeed;
  /** The name recorded as actor in the audit log. */
  actor: string;
}
