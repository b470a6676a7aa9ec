// The offline cache: the app's own files, cached on first use and served from the cache when the
// network (or the server) is gone. Model files are cached by the app itself after their sha256 is
// checked (glue.js), so a corrupt download never lands in a cache.
const APP_CACHE = 'dreamlens-app-v1';
const MODEL_CACHE = 'dreamlens-models-v1';

// Every file of the app (listed by the build in app-files.json) is cached at install, so the
// second visit works offline even for files the first one fetched before this worker ran.
self.addEventListener('install', (event) => event.waitUntil((async () => {
  const cache = await caches.open(APP_CACHE);
  const files = await (await fetch('app-files.json', { cache: 'no-store' })).json();
  await cache.addAll(['./', ...files]);
  await self.skipWaiting();
})()));
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname.includes('/models/')) {
    event.respondWith(caches.open(MODEL_CACHE)
      .then((cache) => cache.match(event.request))
      .then((hit) => hit || fetch(event.request)));
    return;
  }
  // Network first, so a new build is picked up; the cache when the network fails.
  event.respondWith(fetch(event.request).then((response) => {
    if (response.ok) {
      const copy = response.clone();
      caches.open(APP_CACHE).then((cache) => cache.put(event.request, copy));
    }
    return response;
  }).catch(() => caches.open(APP_CACHE)
    // The page's URL carries its settings (?preset=...); the cached page is the same file.
    .then((cache) => cache.match(event.request, { ignoreSearch: event.request.mode === 'navigate' }))
    .then((hit) => hit || Response.error())));
});
