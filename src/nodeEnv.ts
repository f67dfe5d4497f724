// NODE_ENV is production unless set (env.ts), and the libraries that read it themselves, once, when they
// load must see the same: graphql-js, outside production, follows every `instanceof` that fails with a
// check for a second copy of itself (a few percent of a request's CPU). Imported first by the entry
// point, before any of them loads.
process.env.NODE_ENV ??= 'production';
