import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  md5PasswordResponse,
  ScramClient,
  ScramError,
  ScramServer,
  scramVerifier,
} from '../../src/session/scram.js';

describe('SCRAM-SHA-256', () => {
  it('client and server agree on the right password and both signatures verify', async () => {
    const server = new ScramServer(scramVerifier('correct horse'));
    const client = new ScramClient('correct horse');
    const serverFirst = server.serverFirstMessage(client.firstMessage());
    const serverFinal = server.serverFinalMessage(await client.finalMessage(serverFirst));
    expect(() => client.verifyServerFinal(serverFinal)).not.toThrow();
  });

  it('the server refuses a wrong password', async () => {
    const server = new ScramServer(scramVerifier('correct horse'));
    const client = new ScramClient('battery staple');
    const serverFirst = server.serverFirstMessage(client.firstMessage());
    const clientFinal = await client.finalMessage(serverFirst);
    expect(() => server.serverFinalMessage(clientFinal)).toThrow(ScramError);
  });

  it('the client refuses a server that does not know the password', async () => {
    const impostor = new ScramServer(scramVerifier('something else'));
    const client = new ScramClient('correct horse');
    const serverFirst = impostor.serverFirstMessage(client.firstMessage());
    await client.finalMessage(serverFirst);
    expect(() => client.verifyServerFinal(`v=${Buffer.alloc(32, 1).toString('base64')}`)).toThrow(
      /signature does not match/,
    );
  });

  it('the client refuses a server nonce that does not extend its own', async () => {
    const client = new ScramClient('pw');
    await expect(client.finalMessage('r=abc,s=c2FsdA==,i=4096')).rejects.toThrow(/nonce/);
  });

  it('refuses channel binding it cannot do', () => {
    const server = new ScramServer(scramVerifier('pw'));
    expect(() => server.serverFirstMessage('p=tls-server-end-point,,n=,r=abc')).toThrow(/channel binding/);
  });
});

describe('MD5 password response', () => {
  it('matches PostgreSQL: md5 + md5(md5(password || user) || salt)', () => {
    const salt = Buffer.from([1, 2, 3, 4]);
    const inner = createHash('md5').update('secretalice').digest('hex');
    const outer = createHash('md5')
      .update(Buffer.concat([Buffer.from(inner), salt]))
      .digest('hex');
    expect(md5PasswordResponse('alice', 'secret', salt)).toBe(`md5${outer}`);
  });
});
