// The baseline of the benchmark: the same framework (Fastify, same version) with one route that
// parses the same JSON body and returns a constant. Prints its address on stdout.
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.post('/bare', (_request, reply) => reply.send({ result: 15 }));
const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`listening on ${address}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
