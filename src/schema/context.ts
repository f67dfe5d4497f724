import type { ConfigStore } from '../store/configStore.ts';

/** What every resolver gets: the domain store and who is asking. */
export interface Context {
  store: ConfigStore;
  /** The name recorded as actor in the audit log. */
  actor: string;
}
