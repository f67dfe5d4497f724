import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadSettings } from '../src/env.ts';

// Deployment on paper, checked where this machine can: it cannot build or run images, so the compose file
// and the Kubernetes manifests are parsed and held to what the gateway reads (its settings, its probes, its
// port), and the image's command runs here as the container would run it (test/start.test.ts).

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

describe('deploy/compose.yaml', () => {
  const compose = parse(read('deploy/compose.yaml'), { merge: true }) as {
    services: Record<string, { build?: string; image?: string; environment?: Record<string, string>; ports?: string[]; depends_on?: Record<string, { condition: string }>; healthcheck?: unknown }>;
  };

  it('runs PostgreSQL, NATS with JetStream and two gateways built from this checkout', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['gateway-1', 'gateway-2', 'nats', 'postgres']);
    expect(compose.services.nats!.image).toMatch(/^nats:/);
    expect(JSON.stringify(compose.services.nats)).toContain('--jetstream');
    expect(compose.services.postgres!.healthcheck).toBeDefined();
    const ports = new Set<string>();
    for (const name of ['gateway-1', 'gateway-2']) {
      const gateway = compose.services[name]!;
      expect(path.resolve(ROOT, 'deploy', gateway.build!)).toBe(path.resolve(ROOT));
      expect(gateway.depends_on?.postgres?.condition).toBe('service_healthy');
      const env = gateway.environment!;
      expect(new URL(env.DATABASE_URL!.replace(/\$\{[^}]*\}/, 'secret')).host).toBe('postgres:5432');
      expect(new URL(env.NATS_URL!).host).toBe('nats:4222');
      const [published, container] = gateway.ports![0]!.split(':');
      expect(container).toBe(env.PORT);
      ports.add(published!);
    }
    expect(ports.size).toBe(2);
  });

  it("gives the gateways settings the gateway accepts, and keeps the secrets out of the file", () => {
    const env = compose.services['gateway-1']!.environment!;
    expect(env.CONFIGHUB_ADMIN_TOKEN).toMatch(/^\$\{CONFIGHUB_ADMIN_TOKEN:\?/);
    expect(env.DATABASE_URL).toMatch(/\$\{POSTGRES_PASSWORD:\?/);
    const resolved = Object.fromEntries(Object.entries(env).map(([name, value]) => [name, String(value).replace(/\$\{[^}]*\}/g, 'x'.repeat(32))]));
    expect(() => loadSettings(resolved)).not.toThrow();
  });
});

describe('deploy/kubernetes/confighub.yaml', () => {
  const documents = parseAllDocuments(read('deploy/kubernetes/confighub.yaml')).map((document) => document.toJS());
  const deployment = documents.find((document) => document.kind === 'Deployment');
  const service = documents.find((document) => document.kind === 'Service');

  it('probes /health for liveness and /ready for readiness on the port the gateway listens on', () => {
    const container = deployment.spec.template.spec.containers[0];
    const port = container.ports.find((candidate: { name: string }) => candidate.name === 'http');
    const env = Object.fromEntries(container.env.filter((entry: { value?: string }) => entry.value !== undefined).map((entry: { name: string; value: string }) => [entry.name, entry.value]));
    expect(String(port.containerPort)).toBe(env.PORT);
    expect(container.livenessProbe.httpGet).toEqual({ path: '/health', port: 'http' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/ready', port: 'http' });
    expect(deployment.spec.replicas).toBeGreaterThan(1);
    expect(service.spec.ports[0].targetPort).toBe('http');
    expect(service.spec.selector).toEqual(deployment.spec.template.metadata.labels);
  });

  it('takes the database URL and the admin token from a secret, never from the manifest', () => {
    const env = deployment.spec.template.spec.containers[0].env as { name: string; value?: string; valueFrom?: unknown }[];
    for (const name of ['DATABASE_URL', 'CONFIGHUB_ADMIN_TOKEN']) {
      const entry = env.find((candidate) => candidate.name === name)!;
      expect(entry.value).toBeUndefined();
      expect(entry.valueFrom).toMatchObject({ secretKeyRef: { name: 'confighub' } });
    }
  });
});
