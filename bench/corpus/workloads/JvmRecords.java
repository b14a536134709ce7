// JvmRecords: a JVM whose heap is a HashMap of strings and lists (an in-memory catalogue
// and inventory, as a Java service keeps), for the compression corpus. Builds about --mb
// MiB of live objects, deterministic for a seed, prints "<pid> ready" and waits until
// stdin reaches end of file.
//
// Usage: java JvmRecords.java [--mb 400] [--seed 1]   (java 11+ runs a source file)
import java.util.*;

public class JvmRecords {
  record Item(String sku, String title, List<String> tags, double price, int stock) {}

  public static void main(String[] args) throws Exception {
    int mb = 400;
    long seed = 1;
    for (int i = 0; i + 1 < args.length; i += 2) {
      if (args[i].equals("--mb")) mb = Integer.parseInt(args[i + 1]);
      if (args[i].equals("--seed")) seed = Long.parseLong(args[i + 1]);
    }
    Random rng = new Random(seed);
    String[] words = {"steel", "oak", "blue", "large", "compact", "wireless", "organic",
      "classic", "pro", "mini", "deluxe", "eco", "smart", "travel", "kitchen", "garden"};
    String[] categories = {"tools", "furniture", "electronics", "food", "outdoor", "toys"};
    Map<String, Item> items = new HashMap<>();
    Map<String, List<String>> byCategory = new HashMap<>();
    List<String> events = new ArrayList<>();
    Runtime rt = Runtime.getRuntime();
    long target = (long) mb << 20;
    int n = 0;
    while (rt.totalMemory() - rt.freeMemory() < target) {
      for (int k = 0; k < 5000; ++k, ++n) {
        String sku = "SKU-" + Integer.toString(n, 36).toUpperCase();
        String title = words[rng.nextInt(words.length)] + " " + words[rng.nextInt(words.length)]
            + " " + categories[rng.nextInt(categories.length)];
        List<String> tags = new ArrayList<>();
        for (int t = rng.nextInt(4); t >= 0; --t) tags.add(words[rng.nextInt(words.length)]);
        items.put(sku, new Item(sku, title, tags, Math.round(rng.nextDouble() * 50000) / 100.0,
            rng.nextInt(1000)));
        byCategory.computeIfAbsent(categories[rng.nextInt(categories.length)], c -> new ArrayList<>()).add(sku);
        if (n % 3 == 0) {
          events.add("stock-update sku=" + sku + " delta=" + (rng.nextInt(21) - 10) + " warehouse=WH"
              + rng.nextInt(12));
        }
      }
    }
    System.gc();
    System.err.printf("JvmRecords: %d items, used %d MiB%n", n, (rt.totalMemory() - rt.freeMemory()) >> 20);
    System.out.println(ProcessHandle.current().pid() + " ready");
    System.out.flush();
    System.in.readAllBytes();
    System.exit(items.size() > 0 ? 0 : 1);
  }
}
