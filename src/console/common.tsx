import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { Hub } from './api.ts';
import { type Json, settingName, show, valueAt } from './json.ts';
import { CompareQuery } from './operations.ts';

/** A query's data, reloaded by `reload()` (and whenever its variables change); errors are shown, not thrown. */
export function useQuery<Result, Variables>(
  hub: Hub,
  query: DocumentTypeDecoration<Result, Variables>,
  variables: Variables,
): { data: Result | null; error: string | null; reload: () => Promise<void> } {
  const [state, setState] = useState<{ data: Result | null; error: string | null }>({ data: null, error: null });
  const key = JSON.stringify(variables);
  const latest = useRef(0);
  const reload = useCallback(async () => {
    const ticket = ++latest.current;
    try {
      const data = await hub.request(query, variables);
      if (ticket === latest.current) setState({ data, error: null });
    } catch (error) {
      if (ticket === latest.current) setState((before) => ({ data: before.data, error: (error as Error).message }));
    }
  }, [hub, query, key]);
  useEffect(() => {
    void reload();
  }, [reload]);
  return { ...state, reload };
}

/** Calls `onChange` once a subscription's results pause for 50 ms (a burst of changes is one reload). */
export function useLive<Variables extends Record<string, unknown>>(hub: Hub, query: DocumentTypeDecoration<unknown, Variables>, variables: Variables, onChange: () => void): void {
  const callback = useRef(onChange);
  callback.current = onChange;
  const key = JSON.stringify(variables);
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stop = hub.subscribe(query, variables, () => {
      clearTimeout(timer);
      timer = setTimeout(() => callback.current(), 50);
    });
    return () => {
      clearTimeout(timer);
      stop();
    };
  }, [hub, query, key]);
}

export const when = (time: string | null | undefined) => (time ? new Date(time).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' }) : '—');

export function Value({ value }: { value: Json | undefined }) {
  return <code class="value">{show(value)}</code>;
}

/** The hub's message when a result is one of its errors (each has one), else null. */
export const refusal = (result: object | null | undefined): string | null => (result && 'message' in result ? String(result.message) : null);

export function Problem({ text }: { text: string | null }) {
  return text ? (
    <p class="error" role="alert">
      {text}
    </p>
  ) : null;
}

/** A table with a caption and column headings, in a box that scrolls sideways (by keyboard too) when wide; `false` leaves a column out. */
export function Table({ caption, columns, class: className, children }: { caption?: ComponentChildren; columns: (string | false)[]; class?: string; children: ComponentChildren }) {
  return (
    <div class="scroll" tabIndex={0}>
      <table class={className}>
        {caption !== undefined && <caption>{caption}</caption>}
        <thead>
          <tr>
            {columns.map((column) => column !== false && <th scope="col" key={column}>{column}</th>)}
          </tr>
        </thead>
        {children}
      </table>
    </div>
  );
}

/** An RFC 6902 diff as people read it: each setting, old -> new. */
export function Diff({ operations, before }: { operations: { op: string; path: string; value: Json }[]; before: Json | undefined }) {
  if (operations.length === 0) return <p class="hint">No change.</p>;
  return (
    <Table caption="Changes" columns={['Setting', 'Before', 'After']} class="diff">
      <tbody>
        {operations.map((operation) => (
          <tr key={`${operation.op}${operation.path}`} class={`op-${operation.op}`}>
            <td>{settingName(operation.path)}</td>
            <td>{operation.op === 'add' ? <em>absent</em> : <Value value={valueAt(before, operation.path)} />}</td>
            <td>{operation.op === 'remove' ? <em>removed</em> : <Value value={operation.value} />}</td>
          </tr>
        ))}
      </tbody>
    </Table>
  );
}

/** What changed from one version to another, as a diff. */
export function Compare({ hub, service, environment, from, to }: { hub: Hub; service: string; environment: string; from: number; to: number }) {
  const { data, error } = useQuery(hub, CompareQuery, { service, environment, from, to });
  const diff = data?.configDiff;
  const version = data?.configVersion;
  return (
    <section aria-label={`Version ${from} compared with version ${to}`}>
      <h2>
        v{from} → v{to}
      </h2>
      <Problem text={error ?? refusal(diff)} />
      {diff?.__typename === 'ConfigDiff' && <Diff operations={diff.operations} before={version?.__typename === 'ConfigChange' ? (version.newConfig ?? undefined) : undefined} />}
    </section>
  );
}

