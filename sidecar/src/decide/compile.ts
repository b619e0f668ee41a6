// The compiler lives in @pgwarden/crds so the operator (grants, policy status)
// and the sidecar compile, and hash, a policy with the same code.
export { compilePolicy, PolicyCompileError } from '@pgwarden/crds';
