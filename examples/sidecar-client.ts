// A sidecar in ten lines: print task events, resume after a restart (of this or of the server).
// Run: node dist/examples/sidecar-client.js [host:port]   (in your own project: import from 'rigger')
import { eventTypeName, RiggerClient } from '../src/index';

const client = new RiggerClient({ address: process.argv[2] ?? 'localhost:50051' });
const subscription = client.subscribe({ checkpoint: 'sidecar-client.checkpoint' }).subscribe({
  next: (event) => console.log(`#${event.sequence} ${eventTypeName(event.event_type)} ${event.task.title} (${event.task.assignee ?? 'unassigned'})`),
  error: (error: Error) => ((process.exitCode = 1), console.error(`subscription ended: ${error.message}`)),
});
process.once('SIGINT', () => (subscription.unsubscribe(), void client.close()));
