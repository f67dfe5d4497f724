import { useEffect, useState } from 'preact/hooks';
import { type Hub, type Viewer, mayWrite } from './api.ts';
import { Compare, Diff, Problem, Table, Value, refusal, useLive, useQuery, when } from './common.tsx';
import { Editor } from './editor.tsx';
import { type JsonObject, settingName } from './json.ts';
import { ConfigChanged, ConfigQuery, DeletedQuery, HistoryQuery, RestoreMutation, RollbackMutation, RollbackPreview, RolloutChanged } from './operations.ts';
import { bounds, settingsOf } from './settings.ts';
import { ChangeSafety, type ServiceConfig } from './safety.tsx';

const TABS = { settings: 'Settings', history: 'History', fleet: 'Fleet', safety: 'Change safety' };
type Tab = keyof typeof TABS;

export function ConfigPage({ hub, viewer, service, environment }: { hub: Hub; viewer: Viewer; service: string; environment: string }) {
  const variables = { service, environment };
  const { data, error, reload } = useQuery(hub, ConfigQuery, variables);
  const [tab, setTab] = useState<Tab>('settings');
  // The version being edited, fixed when editing starts: a change that lands meanwhile is a conflict at save.
  const [editing, setEditing] = useState<{ version: number; config: JsonObject } | null>(null);
  const [historyTick, setHistoryTick] = useState(0);
  useLive(hub, ConfigChanged, variables, () => {
    void reload();
    setHistoryTick((tick) => tick + 1);
  });
  // A rollout moving a step changes no version: its own subscription says so.
  useLive(hub, RolloutChanged, variables, () => void reload());
  // Instances report without changing the config: while the fleet or a rollout is on screen, read them again every few seconds.
  useEffect(() => {
    if (tab !== 'fleet' && tab !== 'safety') return;
    const timer = setInterval(() => void reload(), 3_000);
    return () => clearInterval(timer);
  }, [tab, reload]);
  const writable = mayWrite(viewer, service, environment);
  const config = data?.config?.__typename === 'ServiceConfig' ? data.config : null;

  if (!data) return <main>{error ? <Problem text={error} /> : <p class="loading">Loading…</p>}</main>;
  if (!config) return <Missing hub={hub} service={service} environment={environment} writable={writable} message={refusal(data.config)} onRestored={reload} />;

  const blame = new Map((data.configBlame?.__typename === 'ConfigBlame' ? data.configBlame.settings : []).map((setting) => [setting.pointer, setting]));
  const settings = settingsOf(config.config, data.configSchema?.fields ?? []);
  return (
    <main>
      <ConfigTitle service={service} environment={environment} />
      <p class="meta">
        <strong data-testid="config-version">version {config.version}</strong>, by {config.updatedBy}, {when(config.updatedAt)}
        {config.description && <> — {config.description}</>}
        {data.configSchema ? <> · schema v{data.configSchema.version}</> : <> · no schema</>}
      </p>
      {config.rollout && (
        <p class="notice" role="status">
          Rollout {config.rollout.id} under way: version {config.rollout.candidateVersion} served to {config.rollout.percent}% of the instances.
        </p>
      )}
      <div role="tablist" aria-label="Config views" class="tabs">
        {(Object.entries(TABS) as [Tab, string][]).map(([name, label]) => (
          <button key={name} type="button" role="tab" id={`tab-${name}`} aria-selected={tab === name} aria-controls={`panel-${name}`} onClick={() => setTab(name)}>
            {label}
          </button>
        ))}
      </div>
      <section role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === 'settings' &&
          (editing ? (
            <Editor
              hub={hub}
              service={service}
              environment={environment}
              base={editing}
              settings={settings}
              onDone={() => {
                setEditing(null);
                void reload();
              }}
            />
          ) : (
            <>
              {writable && !config.rollout && (
                <button type="button" onClick={() => setEditing({ version: config.version, config: config.config })}>
                  Edit settings
                </button>
              )}
              <Table caption={<>Settings of version {config.version}</>} columns={['Setting', 'Value', 'Type and bounds', 'Default', 'Last set']} class="settings">
                <tbody>
                  {settings.map(({ pointer, field, value }) => {
                    const last = blame.get(pointer);
                    return (
                      <tr key={pointer} data-setting={pointer}>
                        <th scope="row">
                          {settingName(pointer)}
                          {field?.description && <span class="description">{field.description}</span>}
                        </th>
                        <td>
                          <Value value={value} />
                        </td>
                        <td>
                          {field?.type ?? (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value)}
                          {bounds(field) && <span class="hint"> {bounds(field)}</span>}
                        </td>
                        <td>{field && field.default !== null ? <Value value={field.default} /> : '—'}</td>
                        <td class="blame">{last ? `v${last.version} by ${last.changedBy}, ${when(last.changedAt)}${last.reason ? `: ${last.reason}` : ''}` : '—'}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </Table>
              <details>
                <summary>Raw JSON</summary>
                <pre class="json" data-testid="raw-json">
                  {JSON.stringify(config.config, null, 2)}
                </pre>
              </details>
            </>
          ))}
        {tab === 'history' && (
          <History key={historyTick} hub={hub} service={service} environment={environment} writable={writable && !config.rollout} currentVersion={config.version} current={config.config} onChanged={reload} />
        )}
        {tab === 'fleet' && <Fleet instances={config.instances} version={config.version} />}
        {tab === 'safety' && <ChangeSafety hub={hub} service={service} environment={environment} writable={writable} rollout={config.rollout} overrides={config.overrides} onChanged={reload} />}
      </section>
    </main>
  );
}

function ConfigTitle({ service, environment }: { service: string; environment: string }) {
  return (
    <>
      <p class="crumbs">
        <a href="#/">Services</a> / {service}
      </p>
      <h1>
        {service} <span class="env">{environment}</span>
      </h1>
    </>
  );
}

function Missing({ hub, service, environment, writable, message, onRestored }: { hub: Hub; service: string; environment: string; writable: boolean; message: string | null; onRestored: () => void }) {
  const { data } = useQuery(hub, DeletedQuery, { service, environment });
  const deleted = data?.configs?.edges.map((edge) => edge.node).find((node) => node.service === service && node.deletedAt);
  const [reason, setReason] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const restore = async () => {
    const { restoreConfig } = await hub.request(RestoreMutation, { input: { service, environment, expectedVersion: deleted!.version, reason } });
    if (restoreConfig.__typename === 'ConfigWrite') onRestored();
    else setProblem(refusal(restoreConfig));
  };
  return (
    <main>
      <ConfigTitle service={service} environment={environment} />
      {deleted ? (
        <>
          <p>
            Deleted by {deleted.updatedBy}, {when(deleted.deletedAt)} (version {deleted.version}). Its history stays; restoring brings it back with the content it had.
          </p>
          {writable && (
            <div class="form-row">
              <label>
                Reason <input value={reason} onInput={(event) => setReason(event.currentTarget.value)} />
              </label>
              <button type="button" disabled={reason.trim() === ''} onClick={() => void restore()}>
                Restore
              </button>
            </div>
          )}
          <Problem text={problem} />
        </>
      ) : (
        <Problem text={message} />
      )}
    </main>
  );
}

function History({
  hub,
  service,
  environment,
  writable,
  currentVersion,
  current,
  onChanged,
}: {
  hub: Hub;
  service: string;
  environment: string;
  writable: boolean;
  currentVersion: number;
  current: JsonObject;
  onChanged: () => void;
}) {
  const { data, error } = useQuery(hub, HistoryQuery, { service, environment });
  const rows = data?.configHistory?.edges.map((edge) => edge.node) ?? [];
  const [from, setFrom] = useState<number | null>(null);
  const [to, setTo] = useState<number | null>(null);
  const [rollbackTo, setRollbackTo] = useState<number | null>(null);
  return (
    <>
      <Problem text={error} />
      <Table caption="Versions, newest first" columns={['Version', 'Change', 'Who, when, why', 'Settings changed', 'Compare', writable && 'Roll back']} class="history">
        <tbody>
          {rows.map((row) => (
            <tr key={row.version}>
              <td>v{row.version}</td>
              <td>{row.action.toLowerCase()}</td>
              <td>
                {row.changedBy}, {when(row.changedAt)}
                {row.reason && <span class="reason">: {row.reason}</span>}
              </td>
              <td>
                {(row.patch ?? []).map((operation) => settingName(operation.path)).sort().join(', ')}
                {row.patchOperationCount > (row.patch?.length ?? 0) && ` and ${row.patchOperationCount - (row.patch?.length ?? 0)} more`}
              </td>
              <td class="compare">
                <label>
                  <input type="radio" name="from" checked={from === row.version} onChange={() => setFrom(row.version)} /> from
                </label>
                <label>
                  <input type="radio" name="to" checked={to === row.version} onChange={() => setTo(row.version)} /> to
                </label>
              </td>
              {writable && (
                <td>
                  {row.version !== currentVersion && (
                    <button type="button" class="quiet" onClick={() => setRollbackTo(row.version)}>
                      Roll back to v{row.version}
                    </button>
                  )}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </Table>
      {from !== null && to !== null && <Compare hub={hub} service={service} environment={environment} from={from} to={to} />}
      {rollbackTo !== null && (
        <Rollback
          hub={hub}
          service={service}
          environment={environment}
          toVersion={rollbackTo}
          currentVersion={currentVersion}
          current={current}
          onDone={() => {
            setRollbackTo(null);
            onChanged();
          }}
        />
      )}
    </>
  );
}

function Rollback({
  hub,
  service,
  environment,
  toVersion,
  currentVersion,
  current,
  onDone,
}: {
  hub: Hub;
  service: string;
  environment: string;
  toVersion: number;
  currentVersion: number;
  current: JsonObject;
  onDone: () => void;
}) {
  const [reason, setReason] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const preview = useQuery(hub, RollbackPreview, { input: { service, environment, toVersion, expectedVersion: currentVersion, dryRun: true } });
  const confirm = async () => {
    const { rollbackConfig } = await hub.request(RollbackMutation, { input: { service, environment, toVersion, expectedVersion: currentVersion, reason } });
    if (rollbackConfig.__typename === 'ConfigWrite') onDone();
    else setProblem(refusal(rollbackConfig));
  };
  const result = preview.data?.rollbackConfig;
  const diff = result?.__typename === 'ConfigWrite' ? result.diff : undefined;
  return (
    <section class="panel" aria-label={`Roll back to version ${toVersion}`}>
      <h2>Roll back to v{toVersion}</h2>
      <p>A new version with the content of v{toVersion}; history is never rewritten.</p>
      <Problem text={preview.error ?? refusal(result)} />
      {diff && <Diff operations={diff} before={current} />}
      <div class="form-row">
        <label>
          Reason <input value={reason} onInput={(event) => setReason(event.currentTarget.value)} required />
        </label>
        <button type="button" disabled={reason.trim() === '' || !diff} onClick={() => void confirm()}>
          Roll back
        </button>
        <button type="button" class="quiet" onClick={onDone}>
          Cancel
        </button>
      </div>
      <Problem text={problem} />
    </section>
  );
}

function Fleet({ instances, version }: { instances: ServiceConfig['instances']; version: number }) {
  if (instances.length === 0) return <p class="hint">No instance of this service has reported yet.</p>;
  return (
    <Table caption="Instances, most recently reported first" columns={['Instance', 'Status', 'Applied', 'Refused', 'Reported']} class="fleet">
      <tbody>
        {instances.map((instance) => {
          const behind = instance.appliedVersion !== version;
          return (
            <tr key={instance.instance} class={instance.rejectedVersion !== null ? 'refused' : behind ? 'behind' : undefined}>
              <td>{instance.instance}</td>
              <td>{instance.status.toLowerCase()}</td>
              <td>
                {instance.appliedVersion === null ? 'defaults' : `v${instance.appliedVersion}`}
                {behind && <span class="badge">behind</span>}
              </td>
              <td>{instance.rejectedVersion === null ? '—' : `v${instance.rejectedVersion}: ${instance.error ?? ''}`}</td>
              <td>{when(instance.reportedAt)}</td>
            </tr>
          );
        })}
      </tbody>
    </Table>
  );
}
