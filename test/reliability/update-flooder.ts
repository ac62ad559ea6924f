// A client process that writes `count` TaskEventStream updates for one task at once, alternating
// its status, then holds the stream open until it is killed. Used by update-flood.test.ts.
import { connect } from '../support/client';

const [address, taskId, count] = process.argv.slice(2) as [string, string, string];
const stream = connect(address).TaskEventStream();
stream.on('data', () => {});
stream.on('error', (error) => {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
});
for (let i = 0; i < Number(count); i++) stream.write({ update: { task_id: taskId, status: i % 2 === 0 ? 2 : 1 } });
process.stdout.write('written\n');
