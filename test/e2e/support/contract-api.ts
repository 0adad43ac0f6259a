/**
 * A stand-in for the api's agent-facing endpoints (libs/contracts agent-api.ts),
 * for agent tests that must not depend on the api's database: register,
 * heartbeat (with cancellations the test decides), run claims (recorded; refused
 * for the runs the test names), device reports (recorded,
 * answered with stable device ids per MAC) and firmware part downloads.
 * It speaks HTTP on loopback; Redis stays real.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type {
  AgentHeartbeatRequest,
  ClaimRunRequest,
  ClaimRunResponse,
  DeviceIdentity,
  PortAttachment,
  RegisterAgentRequest,
  ReportDevicesRequest,
  ReportDevicesResponse,
} from '#contracts';

/** A running stand-in. */
export interface ContractApi {
  baseUrl: string;
  token: string;
  agents: Map<string, { agentId: string; request: RegisterAgentRequest }>;
  heartbeats: Array<{ agentId: string; at: number; body: AgentHeartbeatRequest }>;
  reports: Array<{ agentId: string; at: number; body: ReportDevicesRequest }>;
  /** The current view: MAC → device id, identity and attachment (null when gone). */
  devices: Map<
    string,
    { deviceId: string; identity: DeviceIdentity; attachment: PortAttachment | null; agentId: string }
  >;
  /** Runs the heartbeat answer lists as cancelled. */
  cancelRunIds: Set<string>;
  /** Every run claim, in arrival order. */
  claims: Array<{ agentId: string; runId: string; attempt: number }>;
  /** Runs whose claim is refused (409 RUN_NOT_CLAIMABLE), with the reason given. */
  refuseRunIds: Map<string, string>;
  parts: Map<string, Uint8Array>;
  downloads: string[];
  /** Stores a part and returns its download path. */
  addPart(firmwareId: string, data: Uint8Array): { sha256: string; md5: string; downloadPath: string };
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

/** Starts the stand-in on a free loopback port. */
export async function startContractApi(options: { heartbeatMs?: number } = {}): Promise<ContractApi> {
  const token = `ff_agent_${randomUUID().replace(/-/g, '')}`;
  const api: Omit<ContractApi, 'baseUrl' | 'close'> = {
    token,
    agents: new Map(),
    heartbeats: [],
    reports: [],
    devices: new Map(),
    cancelRunIds: new Set(),
    claims: [],
    refuseRunIds: new Map(),
    parts: new Map(),
    downloads: [],
    addPart(firmwareId, data) {
      const sha256 = createHash('sha256').update(data).digest('hex');
      const md5 = createHash('md5').update(data).digest('hex');
      api.parts.set(sha256, data);
      return { sha256, md5, downloadPath: `/firmware/${firmwareId}/parts/${sha256}` };
    },
  };
  const server: Server = createServer((req, res) => {
    const send = (status: number, payload: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(payload));
    };
    if (req.headers.authorization !== `Bearer ${token}`) {
      send(401, { statusCode: 401, code: 'UNAUTHORIZED', message: 'missing or unknown token' });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    const parts = url.pathname.split('/').filter(Boolean);
    void (async () => {
      if (req.method === 'POST' && url.pathname === '/agents/register') {
        const request = (await body(req)) as RegisterAgentRequest;
        const known = api.agents.get(request.name);
        const agentId = known?.agentId ?? randomUUID();
        api.agents.set(request.name, { agentId, request });
        send(200, { agentId, heartbeatMs: options.heartbeatMs ?? 500 });
      } else if (req.method === 'POST' && parts[0] === 'agents' && parts[2] === 'heartbeat') {
        const b = (await body(req)) as AgentHeartbeatRequest;
        api.heartbeats.push({ agentId: parts[1], at: Date.now(), body: b });
        send(200, { cancelRunIds: b.runningRunIds.filter((id) => api.cancelRunIds.has(id)) });
      } else if (
        req.method === 'POST' &&
        parts[0] === 'agents' &&
        parts[2] === 'runs' &&
        parts[4] === 'claim'
      ) {
        const b = (await body(req)) as ClaimRunRequest;
        api.claims.push({ agentId: parts[1], runId: parts[3], attempt: b.attempt });
        const refusal = api.refuseRunIds.get(parts[3]);
        if (refusal !== undefined) {
          send(409, { statusCode: 409, code: 'RUN_NOT_CLAIMABLE', message: refusal });
          return;
        }
        const answer: ClaimRunResponse = { runId: parts[3], attempt: b.attempt, status: 'running' };
        send(200, answer);
      } else if (req.method === 'POST' && parts[0] === 'agents' && parts[2] === 'devices') {
        const agentId = parts[1];
        const b = (await body(req)) as ReportDevicesRequest;
        api.reports.push({ agentId, at: Date.now(), body: b });
        for (const d of api.devices.values()) {
          if (d.agentId === agentId && d.attachment && b.gone.includes(d.attachment.portPath))
            d.attachment = null;
        }
        const answer: ReportDevicesResponse = { devices: [] };
        for (const { identity, attachment } of b.present) {
          const known = api.devices.get(identity.mac);
          const deviceId = known?.deviceId ?? randomUUID();
          api.devices.set(identity.mac, { deviceId, identity, attachment, agentId });
          answer.devices.push({
            deviceId,
            mac: identity.mac,
            state: 'idle',
            resetSequence: null,
            bestBaud: null,
          });
        }
        send(200, answer);
      } else if (req.method === 'GET' && parts[0] === 'firmware' && parts[2] === 'parts') {
        api.downloads.push(parts[3]);
        const data = api.parts.get(parts[3]);
        if (!data) {
          send(404, { statusCode: 404, code: 'NOT_FOUND', message: 'no such part' });
          return;
        }
        res.writeHead(200, { 'content-type': 'application/octet-stream', etag: parts[3] });
        res.end(Buffer.from(data));
      } else {
        send(404, { statusCode: 404, code: 'NOT_FOUND', message: `${req.method} ${url.pathname}` });
      }
    })().catch((err: unknown) => send(500, { statusCode: 500, code: 'INTERNAL', message: String(err) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    ...api,
    baseUrl: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
