package kgrec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.neo4j.cli.AdminTool;
import org.neo4j.cli.ExecutionContext;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.graphdb.Result;
import org.neo4j.graphdb.Transaction;

/**
 * Neo4j's offline batch importer ({@code neo4j-admin database import full}) into the default
 * database of a local DBMS home, the one {@link LocalNeo4j} serves, while it is stopped.
 *
 * <p>Usage: {@code java -cp ... kgrec.BulkImport HOME [--check] [IMPORT OPTIONS...]}. The
 * options go to the importer as they are (for example {@code @DIR/import.args}, a picocli
 * argument file of {@code --nodes=} / {@code --relationships=} lines). The database must be
 * empty: when its folder exists it is opened first (no connector) and any node but kgrec's
 * {@code :KgrecMeta} version node refuses the import (exit code 4); an empty one is then
 * overwritten. A DBMS holding the store lock (a
 * running one) refuses it too (exit code 3). {@code --check} stops after these checks. Else
 * the importer's own exit code: 0 when the import succeeded. Run by
 * {@code scripts/neo4j-local import}.
 */
public final class BulkImport {
    static final int RUNNING = 3;
    static final int NOT_EMPTY = 4;

    private BulkImport() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: BulkImport HOME [--check] [IMPORT OPTIONS...]");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        List<String> options = new ArrayList<>(List.of(args).subList(1, args.length));
        boolean checkOnly = options.remove("--check");
        Path database = home.resolve("data/databases").resolve(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
        boolean exists = Files.isDirectory(database);
        if (exists) {
            long nodes;
            try {
                nodes = countNodes(home);
            } catch (RuntimeException e) {
                if (isLocked(e)) {
                    System.err.println("kgrec-import: the database in " + home + " is in use (a running Neo4j holds its lock)");
                    System.exit(RUNNING);
                }
                throw e;
            }
            if (nodes > 0) {
                System.err.println("kgrec-import: the database in " + home + " is not empty (" + nodes + " nodes)");
                System.exit(NOT_EMPTY);
            }
        }
        if (checkOnly) {
            System.out.println("kgrec-import: " + home + " can take an import");
            System.exit(0);
        }
        List<String> command = new ArrayList<>(List.of("database", "import", "full"));
        command.add("--overwrite-destination=" + exists); // only an empty database gets here
        command.addAll(options);
        command.add(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
        System.exit(AdminTool.execute(new ExecutionContext(home, home.resolve("conf")), command.toArray(String[]::new)));
    }

    /** Nodes in the default database but kgrec's version node (a cleared store keeps it; the
     * import writes its own), opened without any connector and shut down again. */
    private static long countNodes(Path home) {
        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
                .setConfig(BoltConnector.enabled, false)
                .setConfig(HttpConnector.enabled, false)
                .setConfig(HttpsConnector.enabled, false)
                .setConfig(GraphDatabaseSettings.preallocate_logical_logs, false)
                .build();
        try {
            GraphDatabaseService db = dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
            try (Transaction tx = db.beginTx(); Result result = tx.execute("MATCH (n) WHERE NOT n:KgrecMeta RETURN count(n) AS n")) {
                return (Long) result.next().get("n");
            }
        } finally {
            dbms.shutdown();
        }
    }

    private static boolean isLocked(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            String message = String.valueOf(t.getMessage()).toLowerCase();
            if (t.getClass().getSimpleName().contains("FileLockException") || message.contains("lock")) {
                return true;
            }
        }
        return false;
    }
}
