// A JVM service for cryo's round trip: an HTTP server (com.sun.net.httpserver) on 127.0.0.1 with a
// pool of four handler threads, and four worker threads that keep counting through a shared
// queue (a producer/consumer pair) and an atomic counter, so threads are busy during a dump.
// GET /state answers JSON: pid, produced, consumed, ticks, errors (numbers taken out of order),
// and the names of the worker threads alive. Writes "READY port=N" to the file named by args[0].
import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

public class HttpWorkers {
  static final AtomicLong produced = new AtomicLong(), consumed = new AtomicLong(), ticks = new AtomicLong(), errors = new AtomicLong();
  static final List<Thread> workers = new ArrayList<>();

  static void worker(String name, Runnable body) {
    Thread t = new Thread(() -> { try { for (;;) body.run(); } catch (RuntimeException e) { errors.incrementAndGet(); } }, name);
    t.setDaemon(true);
    workers.add(t);
  }

  public static void main(String[] args) throws Exception {
    BlockingQueue<Long> q = new ArrayBlockingQueue<>(64);
    worker("producer", () -> { try { q.put(produced.incrementAndGet()); Thread.sleep(1); } catch (InterruptedException e) { throw new RuntimeException(e); } });
    long[] want = { 1 };
    worker("consumer", () -> { try { long v = q.take(); if (v != want[0]) errors.incrementAndGet(); want[0] = v + 1; consumed.incrementAndGet(); } catch (InterruptedException e) { throw new RuntimeException(e); } });
    worker("ticker", () -> { try { Thread.sleep(20); ticks.incrementAndGet(); } catch (InterruptedException e) { throw new RuntimeException(e); } });
    worker("spinner", () -> { long x = 0; for (int i = 0; i < 1_000_000; i++) x += i; if (x < 0) errors.incrementAndGet(); try { Thread.sleep(5); } catch (InterruptedException e) { throw new RuntimeException(e); } });
    for (Thread t : workers) t.start();
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
    server.createContext("/state", ex -> {
      StringBuilder alive = new StringBuilder();
      for (Thread t : workers) if (t.isAlive()) alive.append(alive.length() == 0 ? "" : ",").append('"').append(t.getName()).append('"');
      String body = String.format("{\"pid\":%d,\"produced\":%d,\"consumed\":%d,\"ticks\":%d,\"errors\":%d,\"alive\":[%s]}",
          ProcessHandle.current().pid(), produced.get(), consumed.get(), ticks.get(), errors.get(), alive);
      byte[] b = body.getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().set("Content-Type", "application/json");
      ex.getResponseHeaders().set("Connection", "close");
      ex.sendResponseHeaders(200, b.length);
      try (OutputStream o = ex.getResponseBody()) { o.write(b); }
    });
    server.setExecutor(Executors.newFixedThreadPool(4));
    server.start();
    Files.writeString(Path.of(args[0]), "READY port=" + server.getAddress().getPort() + "\n");
    Thread.currentThread().join();
  }
}
