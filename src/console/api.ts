// The console's one way to the hub: the public GraphQL API, over POST for queries and mutations and over
// graphql-ws for live changes, with the token the person signed in with (kept in sessionStorage only).
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
import { type Client, createClient } from 'graphql-ws';
import type { ConsoleViewerQuery } from './generated/graphql.ts';
import { serviceMatches } from '../protocol/serviceGlobs.ts';

const TOKEN_KEY = 'confighub.console.token';

export const storedToken = (): string | null => sessionStorage.getItem(TOKEN_KEY);
export const storeToken = (token: string | null): void => (token === null ? sessionStorage.removeItem(TOKEN_KEY) : sessionStorage.setItem(TOKEN_KEY, token));

export class Hub {
  private socket: Client | undefined;

  constructor(readonly token: string) {}

  async request<Result, Variables>(document: DocumentTypeDecoration<Result, Variables>, variables: Variables): Promise<Result> {
    const response = await fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', authorization: `Bearer ${this.token}` },
      body: JSON.stringify({ query: String(document), variables }),
    });
    const body = (await response.json()) as { data?: Result; errors?: { message: string }[] };
    if (body.errors?.length) throw new Error(body.errors.map((error) => error.message).join('; '));
    if (!body.data) throw new Error(`the hub answered ${response.status} without data`);
    return body.data;
  }

  /** Calls `onResult` at each result of a subscription until the returned function is called. */
  subscribe<Variables extends Record<string, unknown>>(document: DocumentTypeDecoration<unknown, Variables>, variables: Variables, onResult: () => void): () => void {
    this.socket ??= createClient({
      url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`,
      connectionParams: { authorization: `Bearer ${this.token}` },
      lazy: true,
      retryAttempts: Number.POSITIVE_INFINITY,
      shouldRetry: () => true,
    });
    return this.socket.subscribe(
      { query: String(document), variables },
      {
        next: (result) => {
          if (result.data) onResult();
        },
        error: () => {},
        complete: () => {},
      },
    );
  }

  close(): void {
    void this.socket?.dispose();
  }
}

export type Viewer = NonNullable<ConsoleViewerQuery['viewer']>;

/** Whether the viewer may change a config: the same rule as the hub's (which refuses anyway). */
export function mayWrite(viewer: Viewer, service: string, environment: string): boolean {
  return (
    viewer.role !== 'READER' && (viewer.services === null || serviceMatches(viewer.services, service)) && (viewer.environments === null || viewer.environments.includes(environment))
  );
}
