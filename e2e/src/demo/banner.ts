import { clientUser, connectionUrl } from './psql.js';

export interface DemoSetup {
  postgresPort: number;
  proxyPort: number;
  adminPort: number;
  upstreamRole: string;
}

function overview(s: DemoSetup): string[] {
  return [
    'pgwarden demo',
    `  PostgreSQL (throwaway)  127.0.0.1:${s.postgresPort}, database app: customers (fake PII) and orders`,
    `  pgwarden proxy          127.0.0.1:${s.proxyPort}, logging in upstream as ${s.upstreamRole}`,
    `  proxy metrics           http://127.0.0.1:${s.adminPort}/metrics`,
    '',
    'At this stage pgwarden is a transparent proxy: every statement and every row passes through',
    'unchanged, so the PII below is NOT masked and nothing is blocked. Masking sensitive columns,',
    'blocking destructive statements and holding risky ones for approval arrive with the policy',
    'engine, in later versions of this same demo.',
  ];
}

export function interactiveBanner(s: DemoSetup): string {
  return [
    ...overview(s),
    '',
    `psql below is connected through the proxy (it asks for user "${clientUser}"; the proxy always uses`,
    `its own upstream role). From another terminal: psql '${connectionUrl(s.proxyPort)}'`,
    'Try: SELECT * FROM customers;   Quit with \\q to stop everything.',
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
