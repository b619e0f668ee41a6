/** The API group and version of every pgwarden custom resource. */
export const API_GROUP = 'pgwarden.io';
export const API_VERSION = 'v1alpha1';
