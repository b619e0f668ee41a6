// Options node-postgres reads at run time (lib/query.js, lib/client.js) that
// @types/pg does not declare; the suites use them to drive the binary format
// and the extended protocol through the proxy.
import 'pg';

declare module 'pg' {
  interface ClientConfig {
    /** Ask for every result in binary format. */
    binary?: boolean | undefined;
  }

  interface QueryConfig<I> {
    /** Ask for this query's results in binary format. */
    binary?: boolean | undefined;
    /** 'extended' sends Parse/Bind/Execute even for a query without parameters. */
    queryMode?: 'extended' | undefined;
  }
}
