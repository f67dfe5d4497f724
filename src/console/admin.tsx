import { useState } from 'preact/hooks';
import { type Hub, type Viewer, mayWrite } from './api.ts';
import { Problem, Table, refusal, useQuery, when } from './common.tsx';
import type { Role } from './generated/graphql.ts';
import { ChangeRequestsQuery, CreateToken, RevokeToken, TokensQuery } from './operations.ts';
import { RequestList } from './safety.tsx';

export function RequestsPage({ hub, viewer }: { hub: Hub; viewer: Viewer }) {
  const { data, error, reload } = useQuery(hub, ChangeRequestsQuery, {});
  return (
    <main>
      <h1>Change requests</h1>
      <Problem text={error} />
      <RequestList
        hub={hub}
        requests={data?.changeRequests ?? []}
        onChanged={() => void reload()}
        mayReview={(request) => request.author !== viewer.name && mayWrite(viewer, request.service, request.environment)}
      />
    </main>
  );
}

const list = (text: string) => (text.trim() === '' ? null : text.split(',').map((item) => item.trim()).filter(Boolean));

export function TokensPage({ hub }: { hub: Hub }) {
  const { data, error, reload } = useQuery(hub, TokensQuery, {});
  const [form, setForm] = useState({ name: '', role: 'READER' as Role, services: '', environments: '', expiresAt: '' });
  const [created, setCreated] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const create = async (event: Event) => {
    event.preventDefault();
    const { createToken } = await hub.request(CreateToken, {
      input: {
        name: form.name.trim(),
        role: form.role,
        services: list(form.services),
        environments: list(form.environments),
        expiresAt: form.expiresAt ? new Date(form.expiresAt).toISOString() : null,
      },
    });
    if (createToken.__typename === 'CreatedToken') {
      setCreated(createToken.token);
      setProblem(null);
      setForm({ ...form, name: '' });
    } else setProblem(refusal(createToken));
    void reload();
  };
  const revoke = async (name: string) => {
    const { revokeToken } = await hub.request(RevokeToken, { input: { name } });
    setProblem(refusal(revokeToken));
    void reload();
  };
  return (
    <main>
      <h1>Tokens</h1>
      <Problem text={error ?? problem} />
      {created && (
        <p class="success" role="status">
          New token (shown this once, copy it now): <code class="secret">{created}</code>
        </p>
      )}
      <form class="panel" onSubmit={(event) => void create(event)}>
        <h2>New token</h2>
        <div class="form-row">
          <label>
            Name <input value={form.name} onInput={(event) => setForm({ ...form, name: event.currentTarget.value })} required />
          </label>
          <label>
            Role{' '}
            <select value={form.role} onChange={(event) => setForm({ ...form, role: event.currentTarget.value as Role })}>
              <option value="READER">reader</option>
              <option value="EDITOR">editor</option>
              <option value="ADMIN">admin</option>
            </select>
          </label>
          <label>
            Services <input value={form.services} placeholder="all, or names and globs: a,b,polygon-*" onInput={(event) => setForm({ ...form, services: event.currentTarget.value })} />
          </label>
          <label>
            Environments <input value={form.environments} placeholder="all, or production,staging" onInput={(event) => setForm({ ...form, environments: event.currentTarget.value })} />
          </label>
          <label>
            Expires <input type="datetime-local" value={form.expiresAt} onInput={(event) => setForm({ ...form, expiresAt: event.currentTarget.value })} />
          </label>
          <button type="submit" disabled={form.name.trim() === ''}>
            Create
          </button>
        </div>
      </form>
      <Table caption="Tokens" columns={['Name', 'Role', 'Scope', 'Expires', 'Last used', 'Revoke']}>
        <tbody>
          {(data?.tokens ?? []).map((token) => (
            <tr key={token.id} class={token.revokedAt ? 'deleted' : undefined}>
              <td>
                {token.name} <code>{token.prefix}…</code>
              </td>
              <td>{token.role.toLowerCase()}</td>
              <td>
                {token.services?.join(', ') ?? 'all services'}; {token.environments?.join(', ') ?? 'all environments'}
              </td>
              <td>{when(token.expiresAt)}</td>
              <td>{when(token.lastUsedAt)}</td>
              <td>
                {token.revokedAt ? (
                  `revoked ${when(token.revokedAt)}`
                ) : (
                  <button type="button" class="danger" onClick={() => void revoke(token.name)}>
                    Revoke {token.name}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </Table>
    </main>
  );
}
