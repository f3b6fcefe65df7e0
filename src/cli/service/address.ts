// Where `cryo service` listens and the client (native/cryo_client.c) connects, unless told:
// CRYO_SERVICE, else /run/cryo/service.sock for root (as CRIU's service, under /run) and
// /run/user/UID/cryo/service.sock for another user. The two must agree: keep them in step.

export function defaultAddress(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0): string {
  if (env.CRYO_SERVICE && env.CRYO_SERVICE !== 'off') return env.CRYO_SERVICE;
  return uid === 0 ? '/run/cryo/service.sock' : `/run/user/${uid}/cryo/service.sock`;
}
