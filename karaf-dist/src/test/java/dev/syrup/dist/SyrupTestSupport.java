package dev.syrup.dist;

import static org.ops4j.pax.exam.CoreOptions.systemTimeout;
import static org.ops4j.pax.exam.CoreOptions.vmOption;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.configureConsole;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.editConfigurationFilePut;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.karafDistributionConfiguration;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.keepRuntimeFolder;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.logLevel;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import javax.inject.Inject;

import org.apache.karaf.features.BootFinished;
import org.apache.karaf.features.FeaturesService;
import org.apache.karaf.shell.api.console.Session;
import org.apache.karaf.shell.api.console.SessionFactory;
import org.junit.runner.RunWith;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.karaf.options.LogLevelOption.LogLevel;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerClass;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;

/**
 * Base class of the distribution tests: boots the Syrup Karaf distribution built by this
 * module (target/syrup-karaf-dist-VERSION.tar.gz) once per test class and runs the test
 * methods inside it.
 *
 * <p>To add a test: create {@code src/test/java/dev/syrup/dist/SomethingIT.java} extending
 * this class, write JUnit 4 {@code @Test} methods, and use {@link #executeCommand(String)}
 * (returns the command's output, throws if the command fails), {@link #bundleContext},
 * {@link #featuresService}, or inject any other OSGi service with {@code @Inject}. Override
 * {@link #extraOptions()} to add Pax Exam options (more features, config edits...).
 * The Karaf log of each class is {@code target/exam-logs/SomethingIT-karaf.log}.
 * Run one class with {@code mvn -pl karaf-dist verify -Dit.test=SomethingIT}; add
 * {@code -Dsyrup.exam.keep=true} to keep the booted Karaf (and its data/log/karaf.log) under
 * target/exam/ afterwards.
 */
@RunWith(PaxExamBooting.class)
@ExamReactorStrategy(PerClass.class)
public abstract class SyrupTestSupport {

    /**
     * Symbolic names of the bundles of the {@code syrup} feature (bnd: BSN = artifactId); the
     * offload backend ({@code syrup-offload}) is not booted.
     */
    public static final List<String> SYRUP_BUNDLES = List.of(
        "syrup-api",
        "syrup-native",
        "syrup-client",
        "syrup-bpf",
        "syrup-backend-ebpf",
        "syrup-backend-ghost",
        "syrup-isolation",
        "syrup-daemon");

    protected static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(60);

    @Inject
    protected BundleContext bundleContext;

    @Inject
    protected FeaturesService featuresService;

    @Inject
    protected SessionFactory sessionFactory;

    /** Injected only once the boot features are installed: tests start after that. */
    @Inject
    protected BootFinished bootFinished;

    @Configuration
    public Option[] config() {
        List<Option> options = new ArrayList<>(baseOptions());
        options.addAll(Arrays.asList(extraOptions()));
        return options.toArray(new Option[0]);
    }

    /** Override to add Pax Exam options to the defaults of {@link #baseOptions()}. */
    protected Option[] extraOptions() {
        return new Option[0];
    }

    /**
     * Runs one Karaf shell command as an administrator and returns what it printed.
     *
     * @throws AssertionError when the command throws (unknown command, bad arguments, failure)
     *     or does not finish within {@link #COMMAND_TIMEOUT}; the message holds its output
     */
    protected String executeCommand(String command) {
        return executeCommand(command, COMMAND_TIMEOUT);
    }

    protected String executeCommand(String command, Duration timeout) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        InputStream noInput = InputStream.nullInputStream();
        ExecutorService executor = Executors.newSingleThreadExecutor();
        try (Session session = sessionFactory.create(noInput, out, out)) {
            Future<Object> result = executor.submit(() -> session.execute(command));
            Object value = result.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (value != null) {
                out.println(value); // some commands return their result instead of printing it
            }
            out.flush();
            return bytes.toString(StandardCharsets.UTF_8);
        } catch (ExecutionException e) {
            out.flush();
            throw new AssertionError("Command '" + command + "' failed: " + e.getCause()
                + "\n--- output ---\n" + bytes.toString(StandardCharsets.UTF_8), e.getCause());
        } catch (TimeoutException e) {
            throw new AssertionError("Command '" + command + "' did not finish in " + timeout
                + "\n--- output so far ---\n" + bytes.toString(StandardCharsets.UTF_8), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("Interrupted running '" + command + "'", e);
        } finally {
            executor.shutdownNow();
        }
    }

    /** The installed bundle with this symbolic name, or null. */
    protected Bundle bundle(String symbolicName) {
        for (Bundle b : bundleContext.getBundles()) {
            if (symbolicName.equals(b.getSymbolicName())) {
                return b;
            }
        }
        return null;
    }

    /** Options every distribution test needs. */
    protected List<Option> baseOptions() {
        String archive = requiredProperty("syrup.dist.archive");
        String karafVersion = requiredProperty("karaf.version");
        String localRepository = System.getProperty("org.ops4j.pax.url.mvn.localRepository", "");
        String karafLog = new File(System.getProperty("syrup.exam.logs", "target/exam-logs"),
            getClass().getSimpleName() + "-karaf.log").getAbsolutePath();
        List<Option> options = new ArrayList<>(List.of(
            karafDistributionConfiguration()
                .frameworkUrl(new File(archive).toURI().toString())
                .karafVersion(karafVersion)
                .name("Syrup")
                .unpackDirectory(new File(System.getProperty("syrup.exam.dir", "target/exam")))
                .useDeployFolder(false),
            configureConsole().ignoreLocalConsole(),
            logLevel(LogLevel.INFO),
            systemTimeout(180_000),
            // A free SSH port, so a test run does not collide with a Karaf started by ./syrup start
            // (Pax Exam itself picks free JMX/RMI ports).
            editConfigurationFilePut("etc/org.apache.karaf.shell.cfg", "sshPort", freePort()),
            // karaf.log outside the runtime folder, which Pax Exam deletes after the class.
            editConfigurationFilePut("etc/org.ops4j.pax.logging.cfg",
                "log4j2.appender.rolling.fileName", karafLog),
            editConfigurationFilePut("etc/org.ops4j.pax.logging.cfg",
                "log4j2.appender.rolling.filePattern", karafLog + ".%i"),
            // Pax Exam's own bundles (feature "exam") come from the local Maven repository.
            editConfigurationFilePut("etc/org.ops4j.pax.url.mvn.cfg",
                "org.ops4j.pax.url.mvn.localRepository", localRepository),
            editConfigurationFilePut("etc/branding.properties", "welcome", ""),
            // jffi extracts its native library there and does not create the directory itself.
            vmOption("-Djffi.extract.dir=" + jffiDir())));
        options.addAll(java9PlusOptions(karafVersion));
        if (Boolean.getBoolean("syrup.exam.keep")) {
            // -Dsyrup.exam.keep=true: keep target/exam/UUID/ (data/log/karaf.log) after the run
            options.add(keepRuntimeFolder());
        }
        return options;
    }

    /**
     * What bin/karaf adds on Java 9+ (Karaf 4.4's bin/karaf, "VERSION -gt 8" branch); Pax Exam
     * adds none of it, and Karaf fails to boot without (NoClassDefFoundError ...OsgiLocator).
     */
    private static List<Option> java9PlusOptions(String karafVersion) {
        List<Option> options = new ArrayList<>();
        for (String arg : new String[] {
            "--add-reads=java.xml=java.logging",
            "--add-exports=java.base/org.apache.karaf.specs.locator=java.xml,ALL-UNNAMED",
            "--patch-module", "java.base=lib/endorsed/org.apache.karaf.specs.locator-" + karafVersion + ".jar",
            "--patch-module", "java.xml=lib/endorsed/org.apache.karaf.specs.java.xml-" + karafVersion + ".jar",
            "--add-opens", "java.base/java.security=ALL-UNNAMED",
            "--add-opens", "java.base/java.net=ALL-UNNAMED",
            "--add-opens", "java.base/java.lang=ALL-UNNAMED",
            "--add-opens", "java.base/java.util=ALL-UNNAMED",
            "--add-opens", "java.naming/javax.naming.spi=ALL-UNNAMED",
            "--add-opens", "java.rmi/sun.rmi.transport.tcp=ALL-UNNAMED",
            "--add-exports=java.base/sun.net.www.protocol.file=ALL-UNNAMED",
            "--add-exports=java.base/sun.net.www.protocol.ftp=ALL-UNNAMED",
            "--add-exports=java.base/sun.net.www.protocol.http=ALL-UNNAMED",
            "--add-exports=java.base/sun.net.www.protocol.https=ALL-UNNAMED",
            "--add-exports=java.base/sun.net.www.protocol.jar=ALL-UNNAMED",
            "--add-exports=java.base/sun.net.www.content.text=ALL-UNNAMED",
            "--add-exports=jdk.xml.dom/org.w3c.dom.html=ALL-UNNAMED",
            "--add-exports=jdk.naming.rmi/com.sun.jndi.url.rmi=ALL-UNNAMED",
            "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
            "--add-exports=java.security.sasl/com.sun.security.sasl=ALL-UNNAMED",
            "--add-exports=java.naming/com.sun.jndi.ldap=ALL-UNNAMED",
            "-classpath", "lib/jdk9plus/*" + File.pathSeparator + "lib/boot/*",
        }) {
            options.add(vmOption(arg));
        }
        return options;
    }

    private static String jffiDir() {
        File dir = new File("target/exam-jffi").getAbsoluteFile();
        if (!dir.isDirectory() && !dir.mkdirs()) {
            throw new IllegalStateException("cannot create " + dir);
        }
        return dir.getPath();
    }

    private static String requiredProperty(String name) {
        String value = System.getProperty(name);
        if (value == null || value.isEmpty()) {
            throw new IllegalStateException("System property " + name
                + " is not set: run the distribution tests through Maven (mvn verify in karaf-dist)");
        }
        return value;
    }

    protected static String freePort() {
        try (ServerSocket socket = new ServerSocket(0)) {
            return Integer.toString(socket.getLocalPort());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
