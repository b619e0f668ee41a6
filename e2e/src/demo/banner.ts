import { clientUser, connectionUrl } from './psql.js';

export interface DemoSetup {
  postgresPort: number;
  proxyPort: number;
  adminPort: number;
  approvalPort: number;
  upstreamRole: string;
  policyFile: string;
  /** The recording sink directory (spec.recording added to the policy for the demo). */
  recordings: string;
}

function overview(s: DemoSetup): string[] {
  return [
    'pgwarden demo',
    `  PostgreSQL (throwaway)  127.0.0.1:${s.postgresPort}, database app: customers (fake PII) and orders`,
    `  pgwarden proxy          127.0.0.1:${s.proxyPort}, logging in upstream as ${s.upstreamRole}`,
    `  proxy metrics           http://127.0.0.1:${s.adminPort}/metrics`,
    `  approval API            127.0.0.1:${s.approvalPort} (pnpm pgwarden approvals --api 127.0.0.1:${s.approvalPort} …)`,
    '',
    `  policy                  ${s.policyFile}: reads allowed, schema changes denied,`,
    '                          writes to public.* held for approval, PII columns masked,',
    `                          plus spec.recording: every session recorded to ${s.recordings}`,
    '',
    'Every statement is parsed and decided before it reaches PostgreSQL, and results are masked',
    'on their way back (spec.masking): the agent never sees the SSNs, e-mails and card numbers.',
  ];
}

export function interactiveBanner(s: DemoSetup): string {
  return [
    ...overview(s),
    '',
    `psql below is connected through the proxy (it asks for user "${clientUser}"; the proxy always uses`,
    `its own upstream role). From another terminal: psql '${connectionUrl(s.proxyPort)}'`,
    'Try: SELECT * FROM customers;  SELECT upper(ssn) FROM customers;  DROP TABLE orders;  Quit with \\q.',
    `A write waits for approval; from another terminal: pnpm pgwarden approvals list --api 127.0.0.1:${s.approvalPort}`,
    `then: pnpm pgwarden approvals approve ID --as alice --api 127.0.0.1:${s.approvalPort}`,
    `Recordings, from another terminal: pnpm pgwarden replay ${s.recordings} --session latest  (the demo replays your last session after \\q)`,
    '',
  ].join('\n');
}

export function scriptedBanner(s: DemoSetup): string {
  return [
    ...overview(s),
    '',
    'stdin is not a terminal, so the demo runs a scripted session through the proxy.',
    '',
  ].join('\n');
}
