import { useEffect, useRef, useState } from 'preact/hooks';
import type { Hub } from './api.ts';
import { Compare, Diff, Problem, refusal } from './common.tsx';
import type { ConsoleWriteMutation } from './generated/graphql.ts';
import { WriteMutation } from './operations.ts';
import { type Setting, bounds } from './settings.ts';
import { type Json, type JsonObject, isObject, settingName, valueAt, withValue } from './json.ts';

// A write's answer, or why there is none.
type WriteResult = ConsoleWriteMutation['updateConfig'] | { __typename: 'Failure'; message: string };

type Outcome = { kind: 'saved'; version: number } | { kind: 'request'; id: string; approvals: number } | { kind: 'failed'; message: string };

/** A setting's value as typed into its field: a number, a flag, text, or JSON for anything else. */
function parseInput(kind: string, text: string): { value: Json } | { problem: string } {
  if (kind === 'integer' || kind === 'number') {
    if (text.trim() === '') return { problem: 'a number is needed' };
    const value = Number(text);
    return Number.isFinite(value) ? { value } : { problem: 'not a number' };
  }
  if (kind === 'string') return { value: text };
  try {
    return { value: JSON.parse(text) as Json };
  } catch {
    return { problem: 'not valid JSON' };
  }
}

const kindOf = (setting: Setting): string => {
  const type = setting.field?.type;
  if (type && ['integer', 'number', 'string', 'boolean'].includes(type)) return type;
  const value = setting.value;
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  if (typeof value === 'string' || typeof value === 'boolean') return typeof value;
  return 'json';
};

/**
 * Editing a config: a form from its schema (or its JSON), every change checked by a dry run (schema and
 * secret guard, at the field), the diff from the version being edited, a reason, and the write pinned to
 * that version: a change made meanwhile is shown as a conflict, never overwritten.
 */
export function Editor({
  hub,
  service,
  environment,
  base,
  settings,
  onDone,
}: {
  hub: Hub;
  service: string;
  environment: string;
  base: { version: number; config: JsonObject };
  settings: Setting[];
  onDone: () => void;
}) {
  const [draft, setDraft] = useState<JsonObject>(() => structuredClone(base.config));
  const [mode, setMode] = useState<'form' | 'json'>('form');
  const [jsonText, setJsonText] = useState(() => JSON.stringify(base.config, null, 2));
  const [inputProblems, setInputProblems] = useState<Record<string, string>>({});
  const [reason, setReason] = useState('');
  const [check, setCheck] = useState<WriteResult | null>(null);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [saving, setSaving] = useState(false);
  const ticket = useRef(0);

  const inputFor = (extra: Record<string, unknown>) => ({ service, environment, config: draft, expectedVersion: base.version, reason: reason.trim() || null, ...extra });

  // Every change is checked by a dry run (the same checks as the write), a moment after the last keystroke.
  useEffect(() => {
    const mine = ++ticket.current;
    const timer = setTimeout(() => {
      hub
        .request(WriteMutation, { input: inputFor({ dryRun: true }) })
        .then(({ updateConfig }) => {
          if (mine === ticket.current) setCheck(updateConfig);
        })
        .catch((error: unknown) => {
          if (mine === ticket.current) setCheck({ __typename: 'Failure', message: (error as Error).message });
        });
    }, 200);
    return () => clearTimeout(timer);
  }, [JSON.stringify(draft), reason]);

  // The hub names a setting of the document `/config/...` (the input's field), the reason `/reason`.
  const issues = (check && 'issues' in check ? check.issues : []).map((issue) => ({ ...issue, pointer: issue.pointer === '/config' ? '' : issue.pointer.startsWith('/config/') ? issue.pointer.slice('/config'.length) : issue.pointer }));
  const issuesAt = (pointer: string) => issues.filter((issue) => issue.pointer === pointer || issue.pointer.startsWith(`${pointer}/`));
  const elsewhere = issues.filter((issue) => issue.pointer !== '/reason' && !settings.some((setting) => issuesAt(setting.pointer).includes(issue)));
  const reasonIssues = issues.filter((issue) => issue.pointer === '/reason');
  // A refused dry run or save: the version written since editing began.
  const conflictWith = check?.__typename === 'VersionConflictError' ? check.currentVersion : null;
  const clean = check?.__typename === 'ConfigWrite' && Object.keys(inputProblems).length === 0;
  const canSave = clean && check.changed === true && reason.trim() !== '' && !saving;

  const setSetting = (setting: Setting, text: string | boolean) => {
    const kind = kindOf(setting);
    const parsed = typeof text === 'boolean' ? { value: text } : parseInput(kind, text);
    setInputProblems((before) => {
      const next = { ...before };
      if ('problem' in parsed) next[setting.pointer] = parsed.problem;
      else delete next[setting.pointer];
      return next;
    });
    if ('value' in parsed) {
      const next = withValue(draft, setting.pointer, parsed.value);
      setDraft(next);
      setJsonText(JSON.stringify(next, null, 2));
    }
  };

  const setJson = (text: string) => {
    setJsonText(text);
    try {
      const parsed = JSON.parse(text) as Json;
      if (!isObject(parsed)) throw new Error('the config must be a JSON object');
      setDraft(parsed);
      setInputProblems({});
    } catch (error) {
      setInputProblems({ '': (error as Error).message });
    }
  };

  const save = async () => {
    setSaving(true);
    try {
      const { updateConfig: result } = await hub.request(WriteMutation, { input: inputFor({}) });
      if (result.__typename !== 'ConfigWrite') setCheck(result);
      else if (result.request) setOutcome({ kind: 'request', id: result.request.id, approvals: result.request.requiredApprovals });
      else setOutcome({ kind: 'saved', version: result.config.version });
    } catch (error) {
      setOutcome({ kind: 'failed', message: (error as Error).message });
    } finally {
      setSaving(false);
    }
  };

  if (outcome?.kind === 'saved' || outcome?.kind === 'request') {
    return (
      <section class="panel" aria-label="Saved">
        <p role="status" class="success">
          {outcome.kind === 'saved' ? `Saved as version ${outcome.version}.` : `${environment} is protected: change request ${outcome.id} opened; it needs ${outcome.approvals} approval(s).`}
        </p>
        <button type="button" onClick={onDone}>
          Back to the settings
        </button>
      </section>
    );
  }

  return (
    <section class="editor" aria-label="Edit settings">
      <h2>Editing version {base.version}</h2>
      {conflictWith !== null && (
        <div class="conflict" role="alert">
          <p>
            <strong>Conflict:</strong> version {conflictWith} was written since you began editing version {base.version}. Nothing was
            saved; your edits are still here. What changed meanwhile:
          </p>
          <Compare hub={hub} service={service} environment={environment} from={base.version} to={conflictWith} />
          <button type="button" onClick={onDone}>
            Discard my edits and reload
          </button>
        </div>
      )}
      <div role="radiogroup" aria-label="Editor" class="modes">
        <label>
          <input type="radio" name="mode" checked={mode === 'form'} onChange={() => setMode('form')} /> Form
        </label>
        <label>
          <input type="radio" name="mode" checked={mode === 'json'} onChange={() => setMode('json')} /> JSON
        </label>
      </div>
      {mode === 'form' ? (
        <div class="fields">
          {settings.map((setting) => {
            const id = `setting-${setting.pointer}`;
            const kind = kindOf(setting);
            const now = valueAt(draft, setting.pointer);
            const problems = [...(inputProblems[setting.pointer] ? [inputProblems[setting.pointer]!] : []), ...issuesAt(setting.pointer).map((issue) => issue.message)];
            const described = [setting.field?.description, bounds(setting.field)].filter(Boolean).join(' · ');
            return (
              <div class={`field${problems.length > 0 ? ' invalid' : ''}`} key={setting.pointer}>
                <label for={id}>{settingName(setting.pointer)}</label>
                {kind === 'boolean' ? (
                  <input id={id} type="checkbox" checked={now === true} aria-describedby={`${id}-help`} onChange={(event) => setSetting(setting, event.currentTarget.checked)} />
                ) : kind === 'integer' || kind === 'number' ? (
                  <input
                    id={id}
                    type="number"
                    step={kind === 'integer' ? 1 : 'any'}
                    value={typeof now === 'number' ? String(now) : ''}
                    aria-invalid={problems.length > 0}
                    aria-describedby={`${id}-help`}
                    onInput={(event) => setSetting(setting, event.currentTarget.value)}
                  />
                ) : (
                  <input
                    id={id}
                    type="text"
                    value={kind === 'string' ? (typeof now === 'string' ? now : '') : now === undefined ? '' : JSON.stringify(now)}
                    aria-invalid={problems.length > 0}
                    aria-describedby={`${id}-help`}
                    onInput={(event) => setSetting(setting, event.currentTarget.value)}
                  />
                )}
                <p class="help" id={`${id}-help`}>
                  {described}
                  {problems.map((problem) => (
                    <span class="field-error" key={problem}>
                      {problem}
                    </span>
                  ))}
                </p>
              </div>
            );
          })}
        </div>
      ) : (
        <div class="field">
          <label for="json-editor">The whole config (JSON)</label>
          <textarea id="json-editor" rows={18} spellcheck={false} value={jsonText} onInput={(event) => setJson(event.currentTarget.value)} />
          <Problem text={inputProblems[''] ?? null} />
        </div>
      )}
      {elsewhere.length > 0 && (
        <ul class="errors" role="alert">
          {elsewhere.map((issue) => (
            <li key={issue.pointer + issue.message}>
              {issue.pointer || '/'}: {issue.message}
            </li>
          ))}
        </ul>
      )}
      {check?.__typename === 'SecretRejectedError' && issues.length > 0 && <p class="hint">{check.advice}</p>}
      {conflictWith === null && <Problem text={refusal(check)} />}
      <h3>Preview</h3>
      {check?.__typename === 'ConfigWrite' ? <Diff operations={check.diff} before={base.config} /> : <p class="hint">{check ? 'Fix the problems above to see the diff.' : 'Checking…'}</p>}
      <div class="field">
        <label for="reason">Reason (kept in the audit log)</label>
        <input id="reason" value={reason} aria-describedby="reason-help" onInput={(event) => setReason(event.currentTarget.value)} required />
        <p class="help" id="reason-help">
          {reasonIssues.map((issue) => (
            <span class="field-error" key={issue.message}>
              {issue.message}
            </span>
          ))}
        </p>
      </div>
      <div class="form-row">
        <button type="button" disabled={!canSave} onClick={() => void save()}>
          Save version {base.version + 1}
        </button>
        <button type="button" class="quiet" onClick={onDone}>
          Cancel
        </button>
      </div>
      {outcome?.kind === 'failed' && <Problem text={outcome.message} />}
    </section>
  );
}
