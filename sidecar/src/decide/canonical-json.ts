export { canonicalJson } from '@pgwarden/crds';
