import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Hub } from './api.ts';
import { Problem, Table, useLive, useQuery, when } from './common.tsx';
import type { ConsoleServicesQuery, ConsoleServicesQueryVariables } from './generated/graphql.ts';
import { EveryChange, ServicesQuery } from './operations.ts';

type Page = NonNullable<ConsoleServicesQuery['configs']>;

/** How the instances of a config stand: on its version, refusing one, or behind. */
function health(row: Page['edges'][number]['node']): { applied: number; refused: number; behind: number } {
  let applied = 0;
  let refused = 0;
  let behind = 0;
  for (const instance of row.instances) {
    if (instance.rejectedVersion !== null && instance.rejectedVersion >= (instance.appliedVersion ?? 0)) refused++;
    else if (instance.appliedVersion === row.version && instance.status === 'READY') applied++;
    else behind++;
  }
  return { applied, refused, behind };
}

export function ServicesPage({ hub }: { hub: Hub }) {
  const [search, setSearch] = useState('');
  const [environment, setEnvironment] = useState('');
  const filter = { nameContains: search.trim().toLowerCase() || null, environment: environment || null };
  // Cursors of the pages shown after the first ("Show more").
  const [cursors, setCursors] = useState<string[]>([]);
  const [last, setLast] = useState<Page | null>(null);
  const environments = useQuery(hub, ServicesQuery, { after: null, nameContains: null, environment: null });
  const known = useMemo(() => [...new Set((environments.data?.configs?.edges ?? []).map((edge) => edge.node.environment))].sort(), [environments.data]);
  const pages = [null, ...cursors];
  return (
    <main>
      <h1>Services</h1>
      <div class="filters">
        <label>
          Search{' '}
          <input
            type="search"
            value={search}
            onInput={(event) => {
              setSearch(event.currentTarget.value);
              setCursors([]);
            }}
            placeholder="service name"
          />
        </label>
        <label>
          Environment{' '}
          <select
            value={environment}
            onChange={(event) => {
              setEnvironment(event.currentTarget.value);
              setCursors([]);
            }}
          >
            <option value="">all</option>
            {[...new Set([...known, ...(environment ? [environment] : [])])].map((name) => (
              <option key={name}>{name}</option>
            ))}
          </select>
        </label>
      </div>
      <Table columns={['Service', 'Environment', 'Version', 'Last change', 'Instances']} class="services">
        {pages.map((after, index) => (
          <ServiceRows key={`${after ?? ''}`} hub={hub} variables={{ ...filter, after }} onPage={index === pages.length - 1 ? setLast : undefined} />
        ))}
      </Table>
      {last?.edges.length === 0 && cursors.length === 0 && <p class="hint">No config matches.</p>}
      {last?.pageInfo.hasNextPage && last.pageInfo.endCursor && (
        <button type="button" class="quiet" onClick={() => setCursors([...cursors, last.pageInfo.endCursor!])}>
          Show more
        </button>
      )}
    </main>
  );
}

/** One page of the listing, kept live by the feed of every change. */
function ServiceRows({ hub, variables, onPage }: { hub: Hub; variables: ConsoleServicesQueryVariables; onPage?: (page: Page | null) => void }) {
  const { data, error, reload } = useQuery(hub, ServicesQuery, variables);
  useLive(hub, EveryChange, {}, () => void reload());
  const page = data?.configs ?? null;
  useEffect(() => onPage?.(page), [page, onPage]);
  if (error || !page) {
    return (
      <tbody>
        <tr>
          <td colSpan={5} class={error ? undefined : 'loading'}>
            {error ? <Problem text={error} /> : 'Loading…'}
          </td>
        </tr>
      </tbody>
    );
  }
  return (
    <tbody>
      {page.edges.map(({ node: row }) => {
        const { applied, refused, behind } = health(row);
        const reason = row.history?.edges[0]?.node.reason;
        return (
          <tr key={`${row.service}/${row.environment}`} class={row.deletedAt ? 'deleted' : undefined}>
            <td>
              <a href={`#/config/${encodeURIComponent(row.service)}/${encodeURIComponent(row.environment)}`}>{row.service}</a>
              {row.deletedAt && <span class="badge">deleted</span>}
            </td>
            <td>{row.environment}</td>
            <td>v{row.version}</td>
            <td>
              {row.updatedBy}, {when(row.updatedAt)}
              {reason && <span class="reason">: {reason}</span>}
            </td>
            <td class="health">
              {row.instances.length === 0 ? (
                <span class="hint">none reported</span>
              ) : (
                <>
                  <span class="ok">{applied} applied</span>
                  {refused > 0 && <span class="bad">{refused} refused</span>}
                  {behind > 0 && <span class="warn">{behind} behind or stale</span>}
                </>
              )}
            </td>
          </tr>
        );
      })}
    </tbody>
  );
}
