import type { ConfigInstance, ConfigInstanceStatus, PrismaClient } from '../generated/prisma/client.ts';
import { ValidationError, type ValidationIssue } from './errors.ts';
import { type ConfigKey, configKey, groupByConfig, keyString } from './names.ts';
import { MAX_INSTANCE_ERROR_BYTES, requireTexts } from './texts.ts';

export type { ConfigInstance, ConfigInstanceStatus };

/** What an instance of a service says about its config. */
export interface InstanceReport {
  service: string;
  environment?: string | null;
  /** The instance's own id (e.g. hostname and pid): one row per id. */
  instance: string;
  status: ConfigInstanceStatus;
  /** The version it runs; null while it runs on its defaults only. */
  appliedVersion?: number | null;
  /** The last version it refused. */
  rejectedVersion?: number | null;
  /** Why it refused that version, or why it cannot reach its config. */
  error?: string | null;
}

/** Instance ids are free text, within reason. */
const MAX_INSTANCE_CHARS = 256;

/** An instance id as a read or a subscription names it (trimmed as reports are); refused past the limit. */
export function instanceName(instance: string | null | undefined): string | null {
  if (instance == null) return null;
  const name = instance.trim();
  if (name.length > MAX_INSTANCE_CHARS) throw ValidationError.at('/instance', `instance must hold at most ${MAX_INSTANCE_CHARS} characters`);
  return name === '' ? null : name;
}
/** An instance silent this long is dropped from the report: a replaced pod does not say goodbye. */
export const INSTANCE_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;
/** How often (at most, per gateway) reports also sweep out silent instances. */
const SWEEP_INTERVAL_MS = 60 * 60 * 1000;

/**
 * The fleet report: which instance runs which version of a config, and when it last said so. Reports
 * are upserted; they are the fleet's current state, not history, so they bypass the audit log.
 */
export class ConfigInstances {
  private lastSweep = 0;

  constructor(private readonly prisma: PrismaClient) {}

  /** Records a report, replacing the instance's previous one (its first-seen time stays). */
  async report(input: InstanceReport): Promise<ConfigInstance> {
    const key = configKey(input.service, input.environment);
    const instanceId = checkReport(input);
    const values = {
      status: input.status,
      appliedVersion: input.appliedVersion ?? null,
      rejectedVersion: input.rejectedVersion ?? null,
      error: input.error ?? null,
      reportedAt: new Date(),
    };
    const row = await this.prisma.configInstance.upsert({
      where: { serviceName_environment_instanceId: { serviceName: key.service, environment: key.environment, instanceId } },
      create: { serviceName: key.service, environment: key.environment, instanceId, ...values },
      update: values,
    });
    // At most once an hour per gateway, instances silent for INSTANCE_RETENTION_MS are dropped; a failed
    // sweep does not fail the report, which is saved: the next hour's sweep tries again.
    const now = Date.now();
    if (now - this.lastSweep >= SWEEP_INTERVAL_MS) {
      this.lastSweep = now;
      await this.prisma.configInstance.deleteMany({ where: { reportedAt: { lt: new Date(now - INSTANCE_RETENTION_MS) } } }).catch(() => {});
    }
    return row;
  }

  /** The instances of each config, in the order asked, most recently reported first; one query in all. */
  async ofConfigs(keys: readonly ConfigKey[]): Promise<ConfigInstance[][]> {
    if (keys.length === 0) return [];
    const rows = await this.prisma.configInstance.findMany({
      where: { OR: keys.map((key) => ({ serviceName: key.service, environment: key.environment })) },
      orderBy: [{ reportedAt: 'desc' }, { instanceId: 'asc' }],
    });
    return groupByConfig(keys, rows, (row) => keyString({ service: row.serviceName, environment: row.environment }));
  }
}

function checkReport(input: InstanceReport): string {
  const issues: ValidationIssue[] = [];
  const instanceId = input.instance.trim();
  if (instanceId.length === 0 || instanceId.length > MAX_INSTANCE_CHARS) {
    issues.push({ pointer: '/instance', message: `instance must hold 1 to ${MAX_INSTANCE_CHARS} characters` });
  }
  for (const field of ['appliedVersion', 'rejectedVersion'] as const) {
    const version = input[field];
    if (version != null && (!Number.isInteger(version) || version < 1)) {
      issues.push({ pointer: `/${field}`, message: `${field} must be a positive integer` });
    }
  }
  if (issues.length > 0) throw new ValidationError(issues);
  requireTexts([
    { text: instanceId, pointer: '/instance', maxBytes: MAX_INSTANCE_CHARS * 4 },
    { text: input.error, pointer: '/error', maxBytes: MAX_INSTANCE_ERROR_BYTES },
  ]);
  return instanceId;
}
