// `rig grpc` without --host binds both loopbacks on one port, so `localhost:P` answers whichever
// address localhost resolves to.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { call, connect } from '../support/client';
import { freePort, startServer, tempProject, type ServerProcess } from '../support/processes';

function hasIpv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(0, '::1', () => probe.close(() => resolve(true)));
  });
}

/** Starts the server with no --host on a free port; another process may take the port first, so retry. */
async function startOnFreePort(dir: string): Promise<ServerProcess> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      const server = await startServer(dir, ['--port', String(port)], {}, { defaultHost: true });
      assert.equal(server.port, port);
      return server;
    } catch (error) {
      if (attempt >= 5 || !/in use/.test(String(error))) throw error;
    }
  }
}

test('with no --host the server answers on 127.0.0.1:P, [::1]:P and localhost:P', async (t) => {
  const ipv6 = await hasIpv6Loopback();
  const server = await startOnFreePort(tempProject());
  const clients = [];
  try {
    const v4 = connect(`127.0.0.1:${server.port}`);
    clients.push(v4);
    const { task } = await call(v4, 'AddTask', { title: 'over IPv4' });
    assert.match(server.stdout(), new RegExp(`address: +.*127\\.0\\.0\\.1:${server.port}`));

    if (!ipv6) {
      const reason = 'this machine has no IPv6 loopback (::1), so the [::1] half is not checked';
      if (process.env.CI === 'true') throw new Error(`CI=true and ${reason}`);
      process.stderr.write(`\n*** SKIPPING PART: ${reason} ***\n\n`);
      t.diagnostic(reason);
    } else {
      assert.match(server.stdout(), new RegExp(`address: +.*\\[::1\\]:${server.port}`));
      const v6 = connect(`[::1]:${server.port}`);
      clients.push(v6);
      const { task: read } = await call(v6, 'GetTask', { task_id: task.id });
      assert.equal(read.title, 'over IPv4');
      const listed = await call(v6, 'ListTasks', {});
      assert.equal(listed.total_count, 1);
    }

    const local = connect(`localhost:${server.port}`);
    clients.push(local);
    assert.equal((await call(local, 'GetTask', { task_id: task.id })).task.id, task.id);
    assert.doesNotMatch(server.stdout(), /0\.0\.0\.0|\[::\]:/);
  } finally {
    for (const client of clients) client.close();
    assert.equal(await server.stop(), 0);
  }
});
