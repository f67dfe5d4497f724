import { useState } from 'preact/hooks';
import type { Hub } from './api.ts';
import { Diff, Problem, Table, refusal, useQuery, when } from './common.tsx';
import type { ConsoleChangeRequestsQuery, ConsoleConfigQuery } from './generated/graphql.ts';
import { AbortRollout, ChangeRequestsQuery, PromoteRollout, ReviewMutation } from './operations.ts';

export type ServiceConfig = Extract<NonNullable<ConsoleConfigQuery['config']>, { __typename: 'ServiceConfig' }>;
type ChangeRequest = NonNullable<ConsoleChangeRequestsQuery['changeRequests']>[number];

/** Change requests, each with its diff and, for those who may, approve, reject and comment. */
export function RequestList({ hub, requests, onChanged, mayReview }: { hub: Hub; requests: ChangeRequest[]; onChanged: () => void; mayReview: (request: ChangeRequest) => boolean }) {
  const [comment, setComment] = useState<Record<string, string>>({});
  const [problem, setProblem] = useState<string | null>(null);
  const review = async (id: string, verdict: 'APPROVE' | 'REJECT' | 'COMMENT') => {
    const { reviewChangeRequest } = await hub.request(ReviewMutation, { input: { id, verdict, comment: comment[id]?.trim() || null } });
    setProblem(refusal(reviewChangeRequest));
    onChanged();
  };
  if (requests.length === 0) return <p class="hint">No open change request.</p>;
  return (
    <>
      <Problem text={problem} />
      {requests.map((request) => (
        <article class="panel" key={request.id} aria-label={`Change request ${request.id}`}>
          <h3>
            Request {request.id}: {request.service} ({request.environment}) on v{request.baseVersion}
          </h3>
          <p>
            By {request.author}, {when(request.createdAt)}: {request.reason}. {request.approvals} of {request.requiredApprovals} approvals; open until {when(request.expiresAt)}.
          </p>
          {request.rebase && (
            <p class={request.rebase.clean ? 'notice' : 'warn'}>
              The config is at v{request.rebase.currentVersion} now: {request.rebase.detail}
            </p>
          )}
          {request.diff && <Diff operations={request.diff} before={undefined} />}
          {mayReview(request) && (
            <div class="form-row">
              <label>
                Comment <input value={comment[request.id] ?? ''} onInput={(event) => setComment({ ...comment, [request.id]: event.currentTarget.value })} />
              </label>
              <button type="button" onClick={() => void review(request.id, 'APPROVE')}>
                Approve
              </button>
              <button type="button" class="danger" onClick={() => void review(request.id, 'REJECT')}>
                Reject
              </button>
              <button type="button" class="quiet" disabled={!comment[request.id]?.trim()} onClick={() => void review(request.id, 'COMMENT')}>
                Comment
              </button>
            </div>
          )}
        </article>
      ))}
    </>
  );
}

/** A config's rollout under way, its open overrides and change requests. */
export function ChangeSafety({
  hub,
  service,
  environment,
  writable,
  rollout,
  overrides,
  onChanged,
}: {
  hub: Hub;
  service: string;
  environment: string;
  writable: boolean;
  rollout: ServiceConfig['rollout'];
  overrides: ServiceConfig['overrides'];
  onChanged: () => void;
}) {
  const requests = useQuery(hub, ChangeRequestsQuery, { service, environment });
  const [reason, setReason] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const act = async (promote: boolean) => {
    const input = { id: rollout!.id, reason: reason.trim() || null };
    const result = promote ? (await hub.request(PromoteRollout, { input })).promoteRollout : (await hub.request(AbortRollout, { input })).abortRollout;
    setProblem(refusal(result));
    onChanged();
  };
  return (
    <>
      <h2>Rollout</h2>
      {rollout ? (
        <section aria-label="Rollout under way">
          <p>
            Rollout {rollout.id} by {rollout.createdBy}: v{rollout.stableVersion} → v{rollout.candidateVersion}, step {rollout.stepIndex + 1} of {rollout.steps.length} (
            {rollout.steps.map((step) => `${step}%`).join(' → ')}), {rollout.percent}% served now; next step {when(rollout.nextStepAt)}; bake {rollout.bakeSeconds}s; errors tolerated{' '}
            {rollout.maxErrors}.
          </p>
          <Table caption="Instances" columns={['Instance', 'In step', 'Served', 'Applied', 'Report']}>
            <tbody>
              {rollout.instances.map((instance) => (
                <tr key={instance.instance} class={instance.rejectedVersion === rollout.candidateVersion ? 'refused' : undefined}>
                  <td>{instance.instance}</td>
                  <td>{instance.inStep ? 'yes' : 'no'}</td>
                  <td>v{instance.servedVersion}</td>
                  <td>{instance.appliedVersion === null ? '—' : `v${instance.appliedVersion}`}</td>
                  <td>
                    {instance.status.toLowerCase()}
                    {instance.rejectedVersion !== null && `: refused v${instance.rejectedVersion} ${instance.error ?? ''}`}
                  </td>
                </tr>
              ))}
            </tbody>
          </Table>
          {writable && (
            <div class="form-row">
              <label>
                Reason <input value={reason} onInput={(event) => setReason(event.currentTarget.value)} />
              </label>
              <button type="button" onClick={() => void act(true)}>
                Promote to the next step
              </button>
              <button type="button" class="danger" disabled={reason.trim() === ''} onClick={() => void act(false)}>
                Abort (write v{rollout.stableVersion} back)
              </button>
            </div>
          )}
          <Problem text={problem} />
        </section>
      ) : (
        <p class="hint">No rollout under way.</p>
      )}
      <h2>Temporary overrides</h2>
      {overrides.length === 0 ? (
        <p class="hint">No open override.</p>
      ) : (
        <ul>
          {overrides.map((override) => (
            <li key={override.id}>
              v{override.version} by {override.createdBy} ({override.settings.join(', ')}), reverted at {when(override.expiresAt)}
              {override.reason && `: ${override.reason}`}
            </li>
          ))}
        </ul>
      )}
      <h2>Change requests</h2>
      <Problem text={requests.error} />
      <RequestList
        hub={hub}
        requests={requests.data?.changeRequests ?? []}
        mayReview={() => writable}
        onChanged={() => {
          void requests.reload();
          onChanged();
        }}
      />
    </>
  );
}
