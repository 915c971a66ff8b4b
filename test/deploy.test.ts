/**
 * The deployment files (deploy/) follow the sticky-session rules (ARCHITECTURE.md) and agree with each other and with
 * the node. No Traefik, Grafana or Docker engine can run here, so these files are parsed and checked;
 * the Prometheus files go through promtool (check config, check rules, test rules), and the node
 * environment of the compose file and the Kubernetes Deployment goes through the node's own config
 * loader (dist/src/config.js), so a renamed or invalid option fails here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { ROOT } from './helpers/server.js';
import { promtool } from './helpers/prometheus.js';

const DEPLOY = join(ROOT, 'deploy');
/** uWebSockets.js closes an idle keep-alive socket after 10 s (not configurable from JS). */
const UWS_IDLE_TIMEOUT_MS = 10_000;
const NODE_PORT = 3000;
const COOKIE = { name: '_mcp_backend', httpOnly: true, secure: true, sameSite: 'strict' };
/** Env vars in the deploy files that are not node options. */
const HELPER_ENV = new Set(['POD_IP', 'NODE_ENV']);

function text(rel: string): string {
  return readFileSync(join(DEPLOY, rel), 'utf8');
}
function yamlFile(rel: string): any {
  return parse(text(rel), { merge: true });
}
function yamlDocs(rel: string): any[] {
  return parseAllDocuments(text(rel)).map((d) => {
    if (d.errors.length) throw new Error(`${rel}: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS();
  });
}

/** Go-style durations ("5s", "1m30s", "0s", "500ms") or bare numbers (seconds), in ms. */
function durationMs(v: unknown): number {
  if (typeof v === 'number') return v * 1000;
  const s = String(v).trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = s;
  while (rest) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest);
    if (!m) throw new Error(`not a duration: ${s}`);
    total += Number(m[1]) * unit[m[2]];
    rest = rest.slice(m[0].length);
  }
  return total;
}

/** The path a PathPrefix matcher names, or null. */
function pathPrefixes(rule: string): { include: string[]; exclude: string[] } {
  const include: string[] = [];
  const exclude: string[] = [];
  for (const m of rule.matchAll(/(!?)\s*PathPrefix\(\s*[`"]([^`"]+)[`"]\s*\)/g)) (m[1] ? exclude : include).push(m[2]);
  return { include, exclude };
}

/** The OAuth protected resource metadata paths a node serves (RFC 9728): the root form and the /mcp one. */
const PRM_PATHS = ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp'];

/**
 * The route Traefik picks for a request to `path` with no session id and no cookie: of the rules whose
 * PathPrefix matchers accept it (header matchers make a rule miss such a request), the highest priority.
 */
function routeFor<R extends { priority: number }>(routes: R[], ruleOf: (r: R) => string, path: string): R | undefined {
  return routes
    .filter((r) => {
      const rule = ruleOf(r);
      if (rule.includes('Header')) return false;
      const { include, exclude } = pathPrefixes(rule);
      return include.some((p) => path.startsWith(p)) && !exclude.some((p) => path.startsWith(p));
    })
    .sort((a, b) => b.priority - a.priority)[0];
}

/** Compose variable interpolation (`${NAME}`, `${NAME:-default}`, `${NAME:?message}`) from `vars`, as `docker compose` does with deploy/.env. */
function interpolate(env: Record<string, string>, vars: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env))
    out[k] = String(v).replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_w, name: string, op?: string, arg?: string) => {
      const value = vars[name];
      if (value !== undefined && value !== '') return value;
      if (op === '?') throw new Error(`${name} unset: ${arg}`);
      return op === '-' ? (arg ?? '') : '';
    });
  return out;
}

interface ConfigModule {
  loadConfig(argv: readonly string[], env: Record<string, string | undefined>): Record<string, unknown>;
  usage(): string;
}
let config: ConfigModule;
let optionEnvNames: Set<string>;

beforeAll(async () => {
  config = (await import(pathToFileURL(join(ROOT, 'dist', 'src', 'config.js')).href)) as ConfigModule;
  optionEnvNames = new Set([...config.usage().matchAll(/^\s+--[\w-]+\s+([A-Z][A-Z0-9_]*)\s/gm)].map((m) => m[1]));
});

/** The node accepts this environment: every name is an option, every value valid. */
function expectNodeAcceptsEnv(where: string, env: Record<string, string>): Record<string, unknown> {
  const unknown = Object.keys(env).filter((k) => !optionEnvNames.has(k) && !HELPER_ENV.has(k));
  expect(unknown, `${where}: not node options`).toEqual([]);
  return config.loadConfig([], env);
}

// ---------------------------------------------------------------------------------------------------

const compose = yamlFile('docker-compose.yml');
const composeNodes: string[] = Object.entries(compose.services as Record<string, any>)
  .filter(([, s]) => s.build?.dockerfile === 'deploy/Dockerfile')
  .map(([name]) => name)
  .sort();

describe('docker-compose.yml', () => {
  it('runs three nodes built from deploy/Dockerfile, plus Redis, Traefik, Prometheus and Grafana', () => {
    expect(composeNodes).toEqual(['node1', 'node2', 'node3']);
    for (const s of ['redis', 'traefik', 'prometheus', 'grafana']) expect(compose.services[s], s).toBeDefined();
    expect(compose.services.node1.build.context).toBe('..');
    expect(existsSync(resolve(DEPLOY, compose.services.node1.build.context, compose.services.node1.build.dockerfile))).toBe(true);
  });

  it('gives every node the cluster environment: port, host, its own id and advertise address, Redis, the shared secret', () => {
    const ids = new Set<string>();
    for (const name of composeNodes) {
      const env = compose.services[name].environment as Record<string, string>;
      expect(env, name).toMatchObject({
        PORT: String(NODE_PORT),
        HOST: '0.0.0.0',
        NODE_ID: name,
        REDIS_URL: 'redis://redis:6379',
        MCP_ADVERTISE_ADDRESS: `${name}:${NODE_PORT}`,
      });
      // The secret comes from the environment (deploy/.env), never a literal in the file.
      expect(env.MCP_CLUSTER_SECRET, name).toMatch(/^\$\{MCP_CLUSTER_SECRET(:?\?[^}]*)?\}$/);
      ids.add(env.NODE_ID);
      const cfg = expectNodeAcceptsEnv(name, interpolate(env, { MCP_CLUSTER_SECRET: 'x'.repeat(32) }));
      expect(cfg).toMatchObject({
        port: NODE_PORT,
        host: '0.0.0.0',
        nodeId: name,
        redisUrl: 'redis://redis:6379',
        advertiseAddress: `${name}:${NODE_PORT}`,
      });
    }
    expect(ids.size).toBe(composeNodes.length);
    expect(compose.services.redis.healthcheck).toBeDefined();
  });

  it('names the Host values every node accepts (MCP_ALLOWED_HOSTS): bound to 0.0.0.0, a node would accept any', () => {
    for (const name of composeNodes) {
      const env = compose.services[name].environment as Record<string, string>;
      const cfg = expectNodeAcceptsEnv(name, interpolate(env, { MCP_CLUSTER_SECRET: 'x'.repeat(32) }));
      expect((cfg.allowedHosts as string[]).length, name).toBeGreaterThan(0);
      // The name the compose README gives for the endpoint (https://localhost/mcp) is one of them.
      expect(cfg.allowedHosts, name).toContain('localhost');
    }
  });

  it('turns authorization on from deploy/.env (off while MCP_AUTH_ISSUER is empty), for the URL clients use', () => {
    const example = readFileSync(join(DEPLOY, '.env.example'), 'utf8');
    const listed = new Set([...example.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    const on = {
      MCP_CLUSTER_SECRET: 'x'.repeat(32),
      MCP_AUTH_ISSUER: 'https://keycloak.example.com/realms/mcp',
      MCP_AUTH_SCOPES: 'mcp:tools',
      MCP_AUTH_CLIENT_ID: 'mcp-storm-rs',
      MCP_AUTH_CLIENT_SECRET: 'rs-secret',
    };
    for (const name of composeNodes) {
      const env = compose.services[name].environment as Record<string, string>;
      // Every variable the node environment reads from deploy/.env is listed in .env.example.
      for (const m of Object.values(env)
        .join('\n')
        .matchAll(/\$\{(\w+)/g))
        expect(listed, `${name}: ${m[1]}`).toContain(m[1]);
      const off = expectNodeAcceptsEnv(name, interpolate(env, { MCP_CLUSTER_SECRET: 'x'.repeat(32) }));
      expect(off.authIssuers, name).toEqual([]);
      const cfg = expectNodeAcceptsEnv(name, interpolate(env, on));
      expect(cfg, name).toMatchObject({
        authIssuers: [on.MCP_AUTH_ISSUER],
        authScopes: ['mcp:tools'],
        authClientId: 'mcp-storm-rs',
        authClientSecret: 'rs-secret',
        // The endpoint the compose header names: https://localhost/mcp is the resource (the default audience).
        publicUrl: 'https://localhost',
        authAudience: '',
      });
      expect(cfg.allowedHosts, name).toContain(new URL(cfg.publicUrl as string).hostname);
    }
  });

  it('lets a node finish its shutdown grace before Docker kills it', () => {
    for (const name of composeNodes) {
      const s = compose.services[name];
      const graceMs = expectNodeAcceptsEnv(name, interpolate(s.environment, { MCP_CLUSTER_SECRET: 'x'.repeat(32) }))
        .shutdownGraceMs as number;
      expect(durationMs(s.stop_grace_period), name).toBeGreaterThan(graceMs);
    }
  });

  it('mounts only files that exist, and the config paths the services read', () => {
    for (const [name, s] of Object.entries(compose.services as Record<string, any>)) {
      for (const v of (s.volumes ?? []) as string[]) {
        const [src] = v.split(':');
        if (src.startsWith('.')) expect(existsSync(resolve(DEPLOY, src)), `${name}: ${v}`).toBe(true);
      }
    }
    const mountOf = (service: string, src: string): string | undefined =>
      ((compose.services[service].volumes ?? []) as string[]).map((v) => v.split(':')).find(([s]) => s === src)?.[1];
    expect(mountOf('traefik', './traefik/traefik.yml')).toBe('/etc/traefik/traefik.yml');
    expect(mountOf('traefik', './traefik/dynamic.yml')).toBe(traefikStatic.providers.file.filename);
    expect(mountOf('prometheus', './prometheus')).toBe('/etc/prometheus');
    expect(compose.services.prometheus.command).toContain('--config.file=/etc/prometheus/prometheus.yml');
    expect(mountOf('grafana', '../grafana/provisioning')).toBe('/etc/grafana/provisioning');
    const provider = parse(readFileSync(join(ROOT, 'grafana/provisioning/dashboards/mcp.yml'), 'utf8')).providers[0];
    expect(provider).toMatchObject({ type: 'file' });
    expect(mountOf('grafana', '../grafana/dashboards')).toBe(provider.options.path);
  });

  it('uses Traefik v3.3 or later (sticky cookie path)', () => {
    const m = /^traefik:v3\.(\d+)/.exec(compose.services.traefik.image);
    expect(m, compose.services.traefik.image).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(3);
  });
});

describe('Dockerfile', () => {
  const docker = text('Dockerfile');
  // One entry per instruction: comments dropped, backslash continuations joined.
  const lines = docker
    .split('\n')
    .filter((l) => !l.trim().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim().replace(/\s+/g, ' '))
    .filter(Boolean);

  it('binds 0.0.0.0 with a Host allow-list (MCP_ALLOWED_HOSTS) for `docker run -p`', () => {
    const env = lines.filter((l) => l.startsWith('ENV ')).join(' ');
    expect(env).toMatch(/\bHOST=0\.0\.0\.0\b/);
    const hosts = /\bMCP_ALLOWED_HOSTS=(\S+)/.exec(env)?.[1] ?? '';
    expect(hosts.split(',')).toContain('localhost');
  });

  it('builds on node:20-bookworm-slim with npm ci and npm run build, and starts what npm start starts', () => {
    const froms = lines.filter((l) => l.startsWith('FROM '));
    expect(froms.length).toBeGreaterThan(0);
    for (const f of froms) expect(f).toMatch(/^FROM node:20-bookworm-slim(\s|$)/);
    expect(lines.some((l) => /^RUN npm ci\b/.test(l))).toBe(true);
    expect(lines).toContain('RUN npm run build');
    const cmd = lines.find((l) => l.startsWith('CMD '))!;
    const argv = JSON.parse(cmd.slice(4)) as string[];
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(argv.join(' ')).toBe(pkg.scripts.start);
    expect(existsSync(join(ROOT, argv[1]))).toBe(true);
    expect(lines).toContain(`EXPOSE ${NODE_PORT}`);
  });

  it('copies everything the TypeScript build includes, and only paths that exist', () => {
    const copies = lines.filter((l) => l.startsWith('COPY ') && !l.includes('--from='));
    const sources = copies.flatMap((l) => l.slice(5).trim().split(/\s+/).slice(0, -1));
    for (const s of sources) expect(existsSync(join(ROOT, s)), s).toBe(true);
    const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8'));
    for (const dir of tsconfig.include as string[]) expect(sources, `tsconfig includes ${dir}`).toContain(dir);
    expect(sources).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'tsconfig.json']));
  });
});

// ---------------------------------------------------------------------------------------------------

const traefikStatic = yamlFile('traefik/traefik.yml');
const traefikDynamic = yamlFile('traefik/dynamic.yml');

/** The regexp of a HeaderRegexp(`name`, `re`) matcher in a Traefik rule, or null. */
function headerRegexp(rule: string, header: string): string | null {
  const m = new RegExp(`HeaderRegexp\\(\\s*\`${header}\`\\s*,\\s*\`([^\`]+)\`\\s*\\)`).exec(rule);
  return m ? m[1] : null;
}

/** A session id as the node `owner` mints it: 16 random bytes, the owner tag, a 12-byte MAC (base64url). */
function sessionIdOf(owner: string): string {
  return `${'A'.repeat(22)}.${Buffer.from(owner, 'utf8').toString('base64url')}.${'b'.repeat(16)}`;
}

const ownerRule = (rule: string): string | null => headerRegexp(rule, 'Mcp-Session-Id');

describe('Traefik static and dynamic configuration (ARCHITECTURE.md, sticky sessions)', () => {
  const routers = traefikDynamic.http.routers as Record<string, any>;
  /** The routers whose Mcp-Session-Id matcher accepts `node`'s session ids (and no other node's). */
  const ownerRouters = (node: string): any[] =>
    Object.values(routers).filter((r) => {
      const re = ownerRule(r.rule);
      if (re === null || !new RegExp(re).test(sessionIdOf(node))) return false;
      for (const other of composeNodes)
        if (other !== node) expect(new RegExp(re).test(sessionIdOf(other)), `${re} vs ${other}`).toBe(false);
      return true;
    });
  const services = traefikDynamic.http.services as Record<string, any>;
  // The sticky router: /mcp without a header matcher (the owner and cookie routers add one).
  const mcpRouter = Object.values(routers).find((r) => pathPrefixes(r.rule).include.includes('/mcp') && !r.rule.includes('Header'));
  const defaultRouter = Object.values(routers).find((r) => pathPrefixes(r.rule).include.includes('/'));

  it('routes PathPrefix(/mcp) with a higher explicit priority than the default router', () => {
    expect(mcpRouter).toBeDefined();
    expect(defaultRouter).toBeDefined();
    expect(typeof mcpRouter.priority).toBe('number');
    expect(typeof defaultRouter.priority).toBe('number');
    expect(mcpRouter.priority).toBeGreaterThan(defaultRouter.priority);
    expect(new Set(mcpRouter.entryPoints)).toEqual(new Set(defaultRouter.entryPoints));
  });

  it('pins /mcp with the _mcp_backend cookie (httpOnly, secure, sameSite strict) and round-robins the rest', () => {
    expect(services[mcpRouter.service].loadBalancer.sticky.cookie).toMatchObject(COOKIE);
    const path = services[mcpRouter.service].loadBalancer.sticky.cookie.path;
    if (path !== undefined) expect(path).toBe('/mcp');
    expect(services[defaultRouter.service].loadBalancer.sticky).toBeUndefined();
    // A secure cookie is only sent back over HTTPS: the sticky router must terminate TLS.
    expect(mcpRouter.tls).toBeDefined();
  });

  it('routes the protected resource metadata paths to every node, with no cookie, on the /mcp entrypoints', () => {
    const all = Object.values(routers) as Array<{ rule: string; priority: number; service: string; entryPoints: string[]; tls?: unknown }>;
    for (const path of PRM_PATHS) {
      const r = routeFor(all, (x) => x.rule, path);
      expect(r, path).toBeDefined();
      // A router of its own, above the default one.
      expect(r, path).not.toBe(defaultRouter);
      expect(r!.priority, path).toBeGreaterThan(defaultRouter.priority);
      const lb = services[r!.service].loadBalancer;
      expect(lb.sticky, path).toBeUndefined();
      expect(lb.healthCheck?.path, path).toBe('/readyz');
      expect(lb.servers.map((x: { url: string }) => x.url).sort()).toEqual(composeNodes.map((n) => `http://${n}:${NODE_PORT}`));
      expect(new Set(r!.entryPoints)).toEqual(new Set(mcpRouter.entryPoints));
      expect(r!.tls).toBeDefined();
      expect(r!).not.toHaveProperty('middlewares');
    }
    // /mcp itself still goes to the sticky router.
    expect(routeFor(all, (x) => x.rule, '/mcp')).toBe(mcpRouter);
  });

  it('keeps /metrics off the public default router', () => {
    expect(pathPrefixes(defaultRouter.rule).exclude).toContain('/metrics');
  });

  it('health-checks every node on /readyz and lists exactly the compose nodes', () => {
    for (const name of [mcpRouter.service, defaultRouter.service]) {
      const lb = services[name].loadBalancer;
      expect(lb.healthCheck?.path, name).toBe('/readyz');
      expect(durationMs(lb.healthCheck.interval)).toBeLessThanOrEqual(5000);
      expect(lb.servers.map((s: { url: string }) => s.url).sort()).toEqual(composeNodes.map((n) => `http://${n}:${NODE_PORT}`));
    }
  });

  it('drops idle upstream connections before the node does (uWS: 10 s)', () => {
    for (const name of [mcpRouter.service, defaultRouter.service]) {
      const transportName = services[name].loadBalancer.serversTransport;
      const transport = traefikDynamic.http.serversTransports?.[transportName];
      expect(transport, `${name} → serversTransport ${transportName}`).toBeDefined();
      const idle = durationMs(transport.forwardingTimeouts.idleConnTimeout);
      expect(idle).toBeGreaterThan(0);
      expect(idle).toBeLessThan(UWS_IDLE_TIMEOUT_MS);
    }
  });

  it('does not cut SSE streams at the entrypoint (readTimeout 0; writeTimeout 0 if set)', () => {
    for (const ep of mcpRouter.entryPoints as string[]) {
      const t = traefikStatic.entryPoints[ep]?.transport?.respondingTimeouts;
      expect(t, `entrypoint ${ep} must set respondingTimeouts (Traefik's default readTimeout is 60 s)`).toBeDefined();
      expect(durationMs(t.readTimeout), ep).toBe(0);
      if (t.writeTimeout !== undefined) expect(durationMs(t.writeTimeout), ep).toBe(0);
    }
  });

  it('routes a session id to its owner node above the cookie and sticky routers, falling back to the sticky service', () => {
    for (const name of composeNodes) {
      const owned = ownerRouters(name);
      expect(owned.length, `one owner router for ${name}`).toBe(1);
      const r = owned[0];
      expect(pathPrefixes(r.rule).include).toEqual(['/mcp']);
      expect(r.priority).toBeGreaterThan(mcpRouter.priority);
      for (const other of Object.values(routers))
        if (other !== r && !ownerRule(other.rule)) expect(r.priority).toBeGreaterThan(other.priority);
      expect(new Set(r.entryPoints)).toEqual(new Set(mcpRouter.entryPoints));
      expect(r.tls).toBeDefined();
      const failover = services[r.service].failover;
      expect(failover, `${r.service} is a failover service`).toBeDefined();
      expect(failover.fallback).toBe(mcpRouter.service);
      const own = services[failover.service].loadBalancer;
      expect(own.servers.map((s: { url: string }) => s.url)).toEqual([`http://${name}:${NODE_PORT}`]);
      // Failover needs the owner's health: /readyz, so a draining owner's requests go to the fallback.
      expect(own.healthCheck?.path).toBe('/readyz');
      expect(own.serversTransport).toBe(services[mcpRouter.service].loadBalancer.serversTransport);
    }
  });

  it('marks how it routed (X-Mcp-Route: owner, cookie) and removes a client value on the sticky router', () => {
    const middlewares = traefikDynamic.http.middlewares as Record<string, any>;
    const mark = (r: any): unknown => {
      const values = ((r.middlewares ?? []) as string[]).map((m) => middlewares[m]?.headers?.customRequestHeaders?.['X-Mcp-Route']);
      expect(values.filter((v) => v !== undefined).length, r.rule).toBe(1);
      return values.find((v) => v !== undefined);
    };
    for (const name of composeNodes) expect(mark(ownerRouters(name)[0])).toBe('owner');
    const cookieRouter = Object.values(routers).find((r) => /HeaderRegexp\(`Cookie`/.test(r.rule));
    expect(cookieRouter.service).toBe(mcpRouter.service);
    expect(cookieRouter.priority).toBeGreaterThan(mcpRouter.priority);
    expect(new RegExp(headerRegexp(cookieRouter.rule, 'Cookie')!).test(`a=b; ${COOKIE.name}=x`)).toBe(true);
    expect(mark(cookieRouter)).toBe('cookie');
    // An empty customRequestHeaders value makes Traefik delete the header.
    expect(mark(mcpRouter)).toBe('');
  });

  it('reads the dynamic configuration from the file the compose file mounts', () => {
    expect(traefikStatic.providers.file.filename).toBe('/etc/traefik/dynamic.yml');
  });
});

// ---------------------------------------------------------------------------------------------------

describe('Kubernetes manifests', () => {
  const kustomization = yamlFile('k8s/kustomization.yaml');
  const docs = (kustomization.resources as string[]).flatMap((r) => yamlDocs(`k8s/${r}`));
  const secret = yamlDocs('k8s/secret.example.yaml')[0];
  const find = (kind: string): any[] => docs.filter((d) => d?.kind === kind);
  const deployment = find('Deployment')[0];
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  const service = find('Service')[0];
  const ingress = find('IngressRoute')[0];
  const containerPort = (port: string | number): number | undefined =>
    typeof port === 'number' ? port : container.ports.find((p: { name: string }) => p.name === port)?.containerPort;
  const envValue = (name: string): any => container.env.find((e: { name: string }) => e.name === name);

  it('lists resources that exist, all in one namespace', () => {
    for (const r of kustomization.resources as string[]) expect(existsSync(join(DEPLOY, 'k8s', r)), r).toBe(true);
    const namespaces = new Set(docs.filter((d) => d.kind !== 'Namespace').map((d) => d.metadata.namespace));
    expect([...namespaces]).toEqual([kustomization.namespace]);
    expect(find('Namespace')[0].metadata.name).toBe(kustomization.namespace);
  });

  it('runs three replicas with the cluster environment, the secret from a Secret', () => {
    expect(deployment.spec.replicas).toBe(3);
    expect(container.ports.map((p: { containerPort: number }) => p.containerPort)).toContain(NODE_PORT);
    expect(envValue('PORT').value).toBe(String(NODE_PORT));
    expect(envValue('HOST').value).toBe('0.0.0.0');
    expect(envValue('REDIS_URL').value).toBe('redis://redis:6379');
    expect(envValue('NODE_ID').valueFrom.fieldRef.fieldPath).toBe('metadata.name');
    const ref = envValue('MCP_CLUSTER_SECRET').valueFrom.secretKeyRef;
    expect(ref.name).toBe(secret.metadata.name);
    expect(Object.keys(secret.stringData ?? secret.data)).toContain(ref.key);
    // $(POD_IP) only expands when POD_IP is defined earlier in the list.
    const names = container.env.map((e: { name: string }) => e.name);
    expect(envValue('MCP_ADVERTISE_ADDRESS').value).toBe(`$(POD_IP):${NODE_PORT}`);
    expect(names.indexOf('POD_IP')).toBeGreaterThanOrEqual(0);
    expect(names.indexOf('POD_IP')).toBeLessThan(names.indexOf('MCP_ADVERTISE_ADDRESS'));
    expect(envValue('POD_IP').valueFrom.fieldRef.fieldPath).toBe('status.podIP');
  });

  /** The container's environment as Kubernetes fills it in (field refs, the secret, $(VAR) expansion). */
  const podEnv = (): Record<string, string> => {
    const env: Record<string, string> = {};
    for (const e of container.env as { name: string; value?: string }[]) {
      const raw = e.value ?? (e.name === 'POD_IP' ? '10.0.0.7' : e.name === 'NODE_ID' ? 'mcp-storm-7d9f-abcde' : 'x'.repeat(32));
      env[e.name] = raw.replace(/\$\((\w+)\)/g, (w, v: string) => env[v] ?? w);
    }
    return env;
  };

  it('passes the node config loader with the values Kubernetes fills in', () => {
    const cfg = expectNodeAcceptsEnv('Deployment', podEnv());
    expect(cfg).toMatchObject({
      port: NODE_PORT,
      host: '0.0.0.0',
      nodeId: 'mcp-storm-7d9f-abcde',
      advertiseAddress: `10.0.0.7:${NODE_PORT}`,
    });
  });

  it('names the Host values the pods accept (MCP_ALLOWED_HOSTS): bound to 0.0.0.0, a pod would accept any', () => {
    const cfg = expectNodeAcceptsEnv('Deployment', podEnv());
    expect((cfg.allowedHosts as string[]).length).toBeGreaterThan(0);
  });

  it('probes readiness on /readyz and liveness on /healthz', () => {
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(containerPort(container.readinessProbe.httpGet.port)).toBe(NODE_PORT);
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(containerPort(container.livenessProbe.httpGet.port)).toBe(NODE_PORT);
    // Readiness reacts within seconds (draining: 503); liveness must not kill a busy node as fast.
    const window = (p: { periodSeconds?: number; failureThreshold?: number }): number =>
      (p.periodSeconds ?? 10) * (p.failureThreshold ?? 3);
    expect(window(container.readinessProbe)).toBeLessThanOrEqual(5);
    expect(window(container.livenessProbe)).toBeGreaterThan(window(container.readinessProbe));
  });

  it('sleeps in preStop, and grants more than preStop + MCP_SHUTDOWN_GRACE_MS before SIGKILL', () => {
    const cmd = container.lifecycle.preStop.exec.command as string[];
    expect(cmd[0]).toBe('sleep');
    const preStopMs = Number(cmd[1]) * 1000;
    expect(preStopMs).toBeGreaterThan(0);
    const graceMs = expectNodeAcceptsEnv('Deployment', podEnv()).shutdownGraceMs as number;
    expect(graceMs).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(preStopMs + graceMs);
  });

  it('selects the pods from the Service and the disruption budget', () => {
    const labels = deployment.spec.template.metadata.labels;
    expect(labels).toMatchObject(deployment.spec.selector.matchLabels);
    expect(labels).toMatchObject(service.spec.selector);
    expect(labels).toMatchObject(find('PodDisruptionBudget')[0].spec.selector.matchLabels);
    expect(containerPort(service.spec.ports[0].targetPort)).toBe(NODE_PORT);
  });

  it('routes with a Traefik IngressRoute: sticky cookie on /mcp at higher priority, a default route for the rest', () => {
    expect(ingress.apiVersion).toBe('traefik.io/v1alpha1');
    const routes = ingress.spec.routes as any[];
    const mcp = routes.find((r) => pathPrefixes(r.match).include.includes('/mcp'));
    const dflt = routes.find((r) => pathPrefixes(r.match).include.includes('/'));
    expect(mcp).toBeDefined();
    expect(dflt).toBeDefined();
    expect(mcp.priority).toBeGreaterThan(dflt.priority);
    expect(pathPrefixes(dflt.match).exclude).toContain('/metrics');
    expect(mcp.services[0].sticky.cookie).toMatchObject(COOKIE);
    expect(dflt.services[0].sticky).toBeUndefined();
    const transports = find('ServersTransport');
    for (const r of [mcp, dflt]) {
      for (const s of r.services) {
        expect(s.name).toBe(service.metadata.name);
        expect(service.spec.ports.map((p: { port: number; name: string }) => p.port)).toContain(s.port);
        const t = transports.find((x) => x.metadata.name === s.serversTransport);
        expect(t, `serversTransport ${s.serversTransport}`).toBeDefined();
        expect(t.apiVersion).toBe('traefik.io/v1alpha1');
        const idle = durationMs(t.spec.forwardingTimeouts.idleConnTimeout);
        expect(idle).toBeGreaterThan(0);
        expect(idle).toBeLessThan(UWS_IDLE_TIMEOUT_MS);
      }
    }
  });

  it('routes the protected resource metadata paths to the pods with no cookie, above the default route', () => {
    const routes = ingress.spec.routes as Array<{ match: string; priority: number; services: any[] }>;
    const dflt = routes.find((r) => pathPrefixes(r.match).include.includes('/'))!;
    for (const path of PRM_PATHS) {
      const r = routeFor(routes, (x) => x.match, path);
      expect(r, path).toBeDefined();
      expect(r, path).not.toBe(dflt);
      expect(r!.priority).toBeGreaterThan(dflt.priority);
      for (const s of r!.services) {
        expect(s.name).toBe(service.metadata.name);
        expect(s.sticky).toBeUndefined();
        expect(find('ServersTransport').map((t) => t.metadata.name)).toContain(s.serversTransport);
      }
    }
  });

  it('takes the auth settings from an optional ConfigMap and Secret (auth.example.yaml): off without them, accepted by the node with them', () => {
    const [cm, sec] = yamlDocs('k8s/auth.example.yaml');
    expect(cm.kind).toBe('ConfigMap');
    expect(sec.kind).toBe('Secret');
    for (const d of [cm, sec]) expect(d.metadata.namespace).toBe(kustomization.namespace);
    // Not applied by kustomize: no placeholder issuer or secret reaches a cluster.
    expect(kustomization.resources).not.toContain('auth.example.yaml');
    const from = container.envFrom as Array<{
      configMapRef?: { name: string; optional?: boolean };
      secretRef?: { name: string; optional?: boolean };
    }>;
    const cmRef = from.find((e) => e.configMapRef)!.configMapRef!;
    const secRef = from.find((e) => e.secretRef)!.secretRef!;
    expect(cmRef).toEqual({ name: cm.metadata.name, optional: true });
    expect(secRef).toEqual({ name: sec.metadata.name, optional: true });
    // The secret holds the introspection client's credentials and nothing else.
    expect(Object.keys(sec.stringData).sort()).toEqual(['MCP_AUTH_CLIENT_ID', 'MCP_AUTH_CLIENT_SECRET']);
    expect(expectNodeAcceptsEnv('Deployment', podEnv()).authIssuers).toEqual([]);
    const cfg = expectNodeAcceptsEnv('Deployment + auth', { ...podEnv(), ...cm.data, ...sec.stringData });
    expect(cfg).toMatchObject({ authIssuers: [cm.data.MCP_AUTH_ISSUER], authClientId: sec.stringData.MCP_AUTH_CLIENT_ID });
    // The resource tokens must name is the public /mcp URL, on a host the pods accept.
    expect(cfg.allowedHosts).toContain(new URL(cfg.publicUrl as string).hostname);
  });

  it('sets an entrypoint readTimeout of 0 in the Traefik Helm values for the IngressRoute entrypoints', () => {
    const values = yamlFile('k8s/traefik-values.yaml');
    for (const ep of ingress.spec.entryPoints as string[]) {
      expect(durationMs(values.ports[ep].transport.respondingTimeouts.readTimeout), ep).toBe(0);
    }
  });
});

// ---------------------------------------------------------------------------------------------------

describe('Prometheus configuration and alert rules', () => {
  const prom = yamlFile('prometheus/prometheus.yml');
  const alerts = yamlFile('prometheus/alerts.yml');
  const rules = (alerts.groups as { rules: any[] }[]).flatMap((g) => g.rules);
  const rule = (name: string): any => rules.find((r) => r.alert === name);

  it('passes promtool check config (rule files included)', async () => {
    const r = await promtool(['check', 'config', 'prometheus.yml'], join(DEPLOY, 'prometheus'));
    expect(r.output).toMatch(/SUCCESS/);
    expect(r.code, r.output).toBe(0);
  });

  it('passes promtool check rules', async () => {
    const r = await promtool(['check', 'rules', 'alerts.yml'], join(DEPLOY, 'prometheus'));
    expect(r.code, r.output).toBe(0);
  });

  it('passes the alert unit tests (promtool test rules alerts.test.yml)', async () => {
    const r = await promtool(['test', 'rules', 'alerts.test.yml'], join(DEPLOY, 'prometheus'));
    expect(r.code, r.output).toBe(0);
  });

  it('scrapes the compose nodes every 5 s and loads the alert rules', () => {
    expect(prom.rule_files).toContain('alerts.yml');
    const job = prom.scrape_configs.find((j: { job_name: string }) => j.job_name === 'mcp');
    expect(durationMs(job.scrape_interval ?? prom.global.scrape_interval)).toBe(5000);
    expect(job.metrics_path ?? '/metrics').toBe('/metrics');
    expect(job.static_configs.flatMap((c: { targets: string[] }) => c.targets).sort()).toEqual(
      composeNodes.map((n) => `${n}:${NODE_PORT}`),
    );
  });

  it('tells Grafana the same scrape interval and the compose Prometheus address', () => {
    const ds = parse(readFileSync(join(ROOT, 'grafana/provisioning/datasources/prometheus.yml'), 'utf8')).datasources[0];
    expect(ds.type).toBe('prometheus');
    expect(ds.jsonData.timeInterval).toBe(prom.global.scrape_interval);
    const url = new URL(ds.url);
    expect(compose.services[url.hostname], `datasource host ${url.hostname} is a compose service`).toBeDefined();
    expect(url.port).toBe('9090');
  });

  it('has the alerts operators need: node down, misroute spike, registry drops, event-loop lag', () => {
    expect(rule('McpNodeDown').expr).toMatch(/^up\{job="mcp"\}\s*==\s*0$/);
    expect(rule('McpSessionMisrouteSpike').expr).toMatch(/rate\(mcp_session_misroutes_total\{[^}]*\}\[\w+\]\)/);
    expect(rule('McpRegistryWritesDropped').expr).toMatch(/^increase\(mcp_registry_dropped_total\{[^}]*\}\[\w+\]\)\s*>\s*0$/);
    expect(rule('McpEventLoopLagHigh').expr).toMatch(/mcp_event_loop_lag_seconds\{[^}]*\}\)?\s*>\s*0\.1$/);
    expect(durationMs(rule('McpEventLoopLagHigh').for)).toBe(60_000);
    for (const r of rules) {
      expect(r.labels?.severity, r.alert).toMatch(/^(critical|warning|info)$/);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
      // Every rule selects this job, so other jobs (traefik, prometheus) never trigger it.
      expect(r.expr, r.alert).toMatch(/job="mcp"/);
    }
  });
});

// ---------------------------------------------------------------------------------------------------

/**
 * The local test cluster runs a real HAProxy (no Traefik binary can be installed from this machine's
 * registries). Its configuration (src/cluster/local/haproxy.ts) must apply the same rules as
 * deploy/traefik/dynamic.yml, and HAProxy itself must accept it.
 */
describe('local HAProxy (test cluster)', () => {
  let cfg = '';
  let cfgNoOwner = '';
  let routeMark = '';
  let nodeRouteMark = '';
  let tagOf: (node: string) => string;
  beforeAll(async () => {
    const { haproxyConfig, ROUTE_MARK } = await import(pathToFileURL(join(ROOT, 'dist/src/cluster/local/haproxy.js')).href);
    const nodes = composeNodes.map((name, i) => ({ name, host: '127.0.0.1', port: 3001 + i }));
    cfg = haproxyConfig({ lbPort: 8080, nodes });
    cfgNoOwner = haproxyConfig({ lbPort: 8080, nodes, ownerRouting: false });
    routeMark = ROUTE_MARK;
    nodeRouteMark = (await import(pathToFileURL(join(ROOT, 'dist/src/front/forward.js')).href)).ROUTE_MARK_HEADER;
    const { createTagger } = await import(pathToFileURL(join(ROOT, 'dist/src/cluster/session-tag.js')).href);
    // A session id exactly as a node mints it.
    tagOf = (node) => createTagger('s'.repeat(32), node).tag('A'.repeat(22));
  });

  function section(header: string): string {
    const start = cfg.indexOf(`\n${header}`);
    expect(start, header).toBeGreaterThan(-1);
    const rest = cfg.slice(start + 1);
    const next = rest.slice(header.length).search(/\n(frontend|backend|defaults|global|listen) /);
    return next < 0 ? rest : rest.slice(0, header.length + next);
  }

  function seconds(v: string): number {
    const m = /^(\d+)(ms|s|m|h)?$/.exec(v)!;
    return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
  }

  it('is accepted by haproxy -c', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { spawnSync } = await import('node:child_process');
    const dir = mkdtempSync(join(tmpdir(), 'haproxy-check-'));
    writeFileSync(join(dir, 'h.cfg'), cfg);
    const r = spawnSync('haproxy', ['-c', '-f', join(dir, 'h.cfg')], { encoding: 'utf8' });
    expect(r.status, r.stderr + r.stdout).toBe(0);
  });

  it('pins /mcp with the same cookie as Traefik and round-robins the rest without one', () => {
    const router = (traefikDynamic.http.routers as Record<string, any>).mcp;
    expect(router.rule).toBe('PathPrefix(`/mcp`)');
    const tcookie = (traefikDynamic.http.services as Record<string, any>)[router.service].loadBalancer.sticky.cookie;
    const front = section('frontend ');
    expect(front).toMatch(/acl is_mcp path \/mcp\n/);
    expect(front).toMatch(/acl is_mcp path_beg \/mcp\//);
    expect(front).toMatch(/use_backend mcp_sticky if is_mcp/);
    expect(front).toMatch(/default_backend mcp_round_robin/);
    const sticky = section('backend mcp_sticky');
    const cookieLine = sticky.split('\n').find((l) => l.trim().startsWith('cookie '))!;
    expect(cookieLine).toContain(`cookie ${tcookie.name} insert`);
    expect(cookieLine.includes(' httponly')).toBe(tcookie.httpOnly);
    expect(cookieLine.includes(' secure')).toBe(tcookie.secure);
    expect(cookieLine.toLowerCase()).toContain(`samesite=${tcookie.sameSite}`);
    expect(cookieLine).toContain(`Path=${tcookie.path}`);
    expect(section('backend mcp_round_robin')).not.toMatch(/\n\s*cookie /);
    // The same nodes as the compose file, each with its own cookie value.
    for (const name of composeNodes) expect(sticky).toMatch(new RegExp(`server ${name} \\S+ check cookie ${name}`));
  });

  it('sends the protected resource metadata paths to the round-robin backend, as Traefik does', () => {
    const front = section('frontend ');
    const acls = [...front.matchAll(/acl is_mcp (path|path_beg) (\S+)/g)].map((m) => ({ exact: m[1] === 'path', value: m[2] }));
    expect(acls.length).toBeGreaterThan(0);
    for (const path of PRM_PATHS)
      expect(
        acls.some((a) => (a.exact ? path === a.value : path.startsWith(a.value))),
        path,
      ).toBe(false);
    expect(front).toMatch(/default_backend mcp_round_robin/);
  });

  it('routes a session id to the node its owner tag names, as Traefik does, before the cookie', () => {
    const routers = Object.values(traefikDynamic.http.routers as Record<string, any>);
    const sticky = section('backend mcp_sticky');
    const lines = sticky.split('\n').map((l) => l.trim());
    const firstServer = lines.findIndex((l) => l.startsWith('server '));
    for (const name of composeNodes) {
      const sid = tagOf(name);
      const rule = lines.find((l) => l.startsWith(`use-server ${name} if `));
      expect(rule, `use-server ${name}`).toBeDefined();
      // { req.fhdr(mcp-session-id),field(2,.) -m str <tag> }: the second dot-separated field.
      const m = /^use-server \S+ if \{ req\.fhdr\(mcp-session-id\),field\(2,\.\) -m str (\S+) \}$/.exec(rule!);
      expect(m, rule).not.toBeNull();
      expect(sid.split('.')[1]).toBe(m![1]);
      // Traefik's owner router for this node accepts the same id, and no other node's router does.
      const matching = routers.filter((r) => {
        const re = ownerRule(r.rule);
        return re !== null && new RegExp(re).test(sid);
      });
      expect(matching.length, name).toBe(1);
      expect((traefikDynamic.http.services as Record<string, any>)[matching[0].service].failover.service).toBeDefined();
      expect(lines.indexOf(rule!)).toBeLessThan(firstServer);
    }
    // A rule naming a DOWN server is skipped only without persist options: then cookie, then round robin.
    const directives = cfg
      .split('\n')
      .filter((l) => !l.trim().startsWith('#'))
      .join('\n');
    expect(directives).not.toMatch(/option persist|force-persist/);
    expect(cfgNoOwner).not.toMatch(/use-server/);
  });

  it('sets the route mark the node reads (owner, cookie) and drops a client value, like Traefik', () => {
    expect(routeMark).toBe(nodeRouteMark);
    const middlewares = traefikDynamic.http.middlewares as Record<string, any>;
    const traefikNames = Object.values(middlewares).flatMap((m) => Object.keys(m.headers?.customRequestHeaders ?? {}));
    expect(new Set(traefikNames.map((n) => n.toLowerCase()))).toEqual(new Set([routeMark]));
    expect(section('frontend ')).toContain(`http-request del-header ${routeMark}`);
    const sticky = section('backend mcp_sticky');
    expect(sticky).toContain(`http-request set-header ${routeMark} cookie if { req.cook(${COOKIE.name}) -m found }`);
    const owner = new RegExp(
      `http-request set-header ${routeMark} owner if \\{ req\\.fhdr\\(mcp-session-id\\),field\\(2,\\.\\) -m str ([^}]+) \\}`,
    ).exec(sticky);
    expect(owner).not.toBeNull();
    expect(owner![1].trim().split(/\s+/).sort()).toEqual(composeNodes.map((n) => tagOf(n).split('.')[1]).sort());
    // The owner mark comes after the cookie mark, so it wins when both apply.
    expect(sticky.indexOf(' owner if ')).toBeGreaterThan(sticky.indexOf(' cookie if '));
  });

  it('is accepted by haproxy -c with owner routing off', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { spawnSync } = await import('node:child_process');
    const dir = mkdtempSync(join(tmpdir(), 'haproxy-check-'));
    writeFileSync(join(dir, 'h.cfg'), cfgNoOwner);
    const r = spawnSync('haproxy', ['-c', '-f', join(dir, 'h.cfg')], { encoding: 'utf8' });
    expect(r.status, r.stderr + r.stdout).toBe(0);
  });

  it('health-checks /readyz like Traefik, and redispatches clients of a dead node', () => {
    const tpath = (traefikDynamic.http.services as Record<string, any>)['mcp-sticky'].loadBalancer.healthCheck.path;
    for (const b of ['backend mcp_sticky', 'backend mcp_round_robin']) {
      expect(section(b)).toContain(`uri ${tpath} ver HTTP/1.1 hdr Host`);
      expect(section(b)).toMatch(/http-check expect status 200/);
    }
    expect(section('defaults')).toMatch(/option redispatch/);
  });

  it('keeps SSE streams open and idle upstream connections below the uWS keep-alive timeout', () => {
    const d = section('defaults');
    const timeout = (name: string): number => seconds(new RegExp(`timeout ${name} (\\S+)`).exec(d)![1]);
    expect(timeout('http-keep-alive') * 1000).toBeLessThan(UWS_IDLE_TIMEOUT_MS);
    expect(Number(/pool-purge-delay (\d+)s/.exec(d)![1]) * 1000).toBeLessThan(UWS_IDLE_TIMEOUT_MS);
    // Heartbeats come every 15 s; the stream timeouts must be far above that.
    for (const name of ['client', 'server', 'tunnel']) expect(timeout(name)).toBeGreaterThanOrEqual(3600);
    const maxconn = Number(/maxconn (\d+)/.exec(section('global'))![1]);
    expect(maxconn).toBeLessThan(9000);
  });
});
