//! The one JVM of the process: finding libjvm, starting the JVM once (and remembering a
//! failure), attaching threads for good with the system class loader as their context class
//! loader, bounded local-reference frames, and refusing use from a forked child.

use std::cell::Cell;
use std::env;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use jni::objects::{GlobalRef, JObject};
use jni::{InitArgsBuilder, JNIEnv, JNIVersion, JavaVM};

use super::error::{JavaResult, JdbcError, JdbcErrorKind};

/// Local references each call may create before the JVM must grow its frame: enough for one
/// row of a wide result, and checked by `-Xcheck:jni` in the tests.
pub(super) const FRAME_CAPACITY: i32 = 64;

/// How the JVM is started: where libjvm is, the class path, and extra options. Only the first
/// start counts; see [`start_jvm`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JvmOptions {
    pub(super) libjvm: Option<PathBuf>,
    pub(super) class_path: Vec<PathBuf>,
    pub(super) options: Vec<String>,
}

impl JvmOptions {
    /// No extra jars or options; libjvm found as [`start_jvm`] says.
    pub fn new() -> JvmOptions {
        JvmOptions::default()
    }

    /// Loads libjvm from this file (`…/lib/server/libjvm.so`) instead of looking for it.
    pub fn libjvm(mut self, path: impl Into<PathBuf>) -> JvmOptions {
        self.libjvm = Some(path.into());
        self
    }

    /// Adds a jar (or a directory of classes) to the class path, after `CLASSPATH`.
    pub fn jar(mut self, path: impl Into<PathBuf>) -> JvmOptions {
        self.class_path.push(path.into());
        self
    }

    /// Adds a JVM option (`-Xmx512m`, `-Duser.timezone=UTC`, `-Xcheck:jni`).
    pub fn option(mut self, option: impl Into<String>) -> JvmOptions {
        self.options.push(option.into());
        self
    }

    /// The jars added with [`JvmOptions::jar`].
    pub fn jars(&self) -> &[PathBuf] {
        &self.class_path
    }
}

/// The running JVM and what it was started with.
#[derive(Debug)]
pub(super) struct Jvm {
    vm: JavaVM,
    /// The process that started it (for the error a forked child gets).
    pid: u32,
    /// Its fork generation: a forked child must not touch it.
    fork_generation: u64,
    /// Every class-path entry it was started with.
    class_path: Vec<PathBuf>,
    started_in: Duration,
}

static JVM: OnceLock<Result<Jvm, String>> = OnceLock::new();

thread_local! {
    /// Whether this thread's context class loader was set (it is attached for good, so once).
    static CONTEXT_LOADER_SET: Cell<bool> = const { Cell::new(false) };
}

/// Starts the JVM with `options` if it is not running yet, and says how long that took (zero
/// when it was already running, or started by an earlier call).
///
/// There is one JVM per process, started by this call or by the first JDBC connect, whichever
/// comes first; the options of later calls and managers are not applied to it (their jars are
/// still loaded, through a class loader of their own). libjvm is loaded from
/// [`JvmOptions::libjvm`] when given; else from `JAVA_HOME` when it is set (and only from
/// there: a `JAVA_HOME` without a JVM is an error naming it); else from the home of the `java`
/// on `PATH` (its real path, through symbolic links); else from the JDK homes listed in
/// `MILLPOND_JAVA_FALLBACK` (separated as in `PATH`; `/usr/lib/jvm/default-java` when unset,
/// none when empty). A failure is remembered: every later call returns the same error.
pub fn start_jvm(options: &JvmOptions) -> Result<Duration, JdbcError> {
    let mut started_now = false;
    let jvm = JVM
        .get_or_init(|| {
            started_now = true;
            start(options)
        })
        .as_ref()
        .map_err(|message| JdbcError::new(JdbcErrorKind::Jvm, message.clone()))?;
    check_pid(jvm)?;
    Ok(if started_now {
        jvm.started_in
    } else {
        Duration::ZERO
    })
}

/// The process's JVM, if it was started (for raw JNI work beside the pool). Attach threads with
/// `attach_current_thread_permanently`; in a forked child this is an error.
pub fn java_vm() -> Result<&'static JavaVM, JdbcError> {
    let jvm = running()?;
    Ok(&jvm.vm)
}

fn check_pid(jvm: &Jvm) -> Result<(), JdbcError> {
    // The crate's fork counter: one relaxed load, where getpid is a system call per JNI call.
    if crate::fork::generation() == jvm.fork_generation {
        Ok(())
    } else {
        Err(JdbcError::new(
            JdbcErrorKind::Forked,
            format!(
                "the JVM was started by process {} and this process ({}) is a fork of it: a JVM does not \
                 survive fork, and touching it here would hang. Open JDBC connections only in the \
                 processes that use them (start the JVM after forking, in each worker)",
                jvm.pid,
                std::process::id()
            ),
        ))
    }
}

/// The JVM, started with `options` when not yet running.
pub(super) fn jvm(options: &JvmOptions) -> Result<&'static Jvm, JdbcError> {
    start_jvm(options)?;
    running()
}

fn running() -> Result<&'static Jvm, JdbcError> {
    match JVM.get() {
        Some(Ok(jvm)) => {
            check_pid(jvm)?;
            Ok(jvm)
        }
        Some(Err(message)) => Err(JdbcError::new(JdbcErrorKind::Jvm, message.clone())),
        None => Err(JdbcError::new(
            JdbcErrorKind::Jvm,
            "the JVM is not running yet: it starts with the first JDBC connect or start_jvm",
        )),
    }
}

impl Jvm {
    /// Whether `path` was on the class path the JVM started with.
    pub(super) fn has_on_class_path(&self, path: &Path) -> bool {
        self.class_path.iter().any(|p| p == path)
    }

    /// Runs `f` on this thread's JNI environment inside a local-reference frame, so every local
    /// reference it makes is freed when it returns. The thread is attached for good on first
    /// use, with the system class loader as its context class loader.
    pub(super) fn with_env<T>(
        &'static self,
        f: impl FnOnce(&mut JNIEnv<'_>) -> Result<T, JdbcError>,
    ) -> Result<T, JdbcError> {
        check_pid(self)?;
        let mut env = self
            .vm
            .attach_current_thread_permanently()
            .map_err(JdbcError::jni)?;
        if !CONTEXT_LOADER_SET.get() {
            // Without it, DriverManager finds drivers on the first thread only ("No suitable
            // driver" elsewhere): attached native threads get no context class loader.
            env.with_local_frame(FRAME_CAPACITY, set_context_class_loader)?;
            CONTEXT_LOADER_SET.set(true);
        }
        env.with_local_frame(FRAME_CAPACITY, f)
    }
}

fn set_context_class_loader(env: &mut JNIEnv<'_>) -> Result<(), JdbcError> {
    let loader = system_class_loader(env)?;
    let thread = env
        .call_static_method("java/lang/Thread", "currentThread", "()Ljava/lang/Thread;", &[])
        .and_then(|v| v.l())
        .or_throw(env)?;
    env.call_method(
        &thread,
        "setContextClassLoader",
        "(Ljava/lang/ClassLoader;)V",
        &[(&loader).into()],
    )
    .or_throw(env)?;
    Ok(())
}

/// `ClassLoader.getSystemClassLoader()`.
pub(super) fn system_class_loader<'local>(env: &mut JNIEnv<'local>) -> Result<JObject<'local>, JdbcError> {
    env.call_static_method(
        "java/lang/ClassLoader",
        "getSystemClassLoader",
        "()Ljava/lang/ClassLoader;",
        &[],
    )
    .and_then(|v| v.l())
    .or_throw(env)
}

/// A global reference that is never released in a forked child (releasing it would touch the
/// parent's JVM, and hang): there it is leaked instead.
#[derive(Debug)]
pub(super) struct JavaRef {
    global: Option<GlobalRef>,
    /// The fork generation of the process that made it.
    fork_generation: u64,
}

impl JavaRef {
    pub(super) fn new(env: &JNIEnv<'_>, obj: &JObject<'_>) -> Result<JavaRef, JdbcError> {
        Ok(JavaRef {
            global: Some(env.new_global_ref(obj).map_err(JdbcError::jni)?),
            fork_generation: crate::fork::generation(),
        })
    }

    pub(super) fn as_obj(&self) -> &JObject<'static> {
        self.global.as_ref().expect("held until dropped").as_obj()
    }

    /// The global reference itself, for raw JNI work.
    pub(super) fn global(&self) -> Option<&GlobalRef> {
        self.global.as_ref()
    }
}

impl Drop for JavaRef {
    fn drop(&mut self) {
        if crate::fork::generation() != self.fork_generation {
            std::mem::forget(self.global.take());
        }
    }
}

/// Starts the JVM; the error says where libjvm was looked for, or why it did not start.
fn start(options: &JvmOptions) -> Result<Jvm, String> {
    // The fork check reads the crate's fork counter, whose handler must be in place first.
    crate::fork::watch();
    let began = Instant::now();
    let mut class_path: Vec<PathBuf> = env::var_os("CLASSPATH")
        .map(|cp| {
            env::split_paths(&cp)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    class_path.extend(options.class_path.iter().cloned());
    let joined = env::join_paths(&class_path)
        .map_err(|err| format!("cannot build the JVM class path: {err}"))?
        .to_string_lossy()
        .into_owned();
    let mut args = InitArgsBuilder::new()
        .version(JNIVersion::V8)
        .option(format!("-Djava.class.path={joined}"));
    for option in &options.options {
        args = args.option(option.as_str());
    }
    let args = args.build().map_err(|err| format!("invalid JVM option: {err}"))?;
    let libjvm = find_libjvm(options)?;
    let vm = JavaVM::with_libjvm(args, || Ok(libjvm.clone()))
        .map_err(|err| format!("could not start the JVM from {}: {err}", libjvm.display()))?;
    let started_in = began.elapsed();
    log::debug!(
        target: "millpond::jdbc",
        "JVM started from {} in {started_in:?} with class path {joined}",
        libjvm.display()
    );
    Ok(Jvm {
        vm,
        pid: std::process::id(),
        fork_generation: crate::fork::generation(),
        class_path,
        started_in,
    })
}

/// The environment variable naming the JDK homes tried last, when `JAVA_HOME` is unset and the
/// `java` on `PATH` leads to no libjvm: a list separated as `PATH` is, `/usr/lib/jvm/default-java`
/// when unset, nowhere when empty.
const FALLBACK_ENV: &str = "MILLPOND_JAVA_FALLBACK";

/// The JDK home tried last when [`FALLBACK_ENV`] is unset (Debian's `default-jre-headless`).
const DEFAULT_FALLBACK: &str = "/usr/lib/jvm/default-java";

/// Where under a JDK or JRE home libjvm may be, newest layout first.
const LIBJVM_DIRS: [&str; 5] = [
    "lib/server",
    "jre/lib/server",
    "lib/amd64/server",
    "jre/lib/amd64/server",
    "lib/client",
];

/// Finds libjvm: the explicit path, else under `JAVA_HOME` (and nowhere else when it is set: a
/// wrong `JAVA_HOME` is the user's mistake to hear about, not to work around), else beside the
/// `java` on `PATH`, else under the fallback homes ([`FALLBACK_ENV`]). The error names every
/// place looked at.
fn find_libjvm(options: &JvmOptions) -> Result<PathBuf, String> {
    if let Some(path) = &options.libjvm {
        return if path.is_file() {
            Ok(path.clone())
        } else {
            Err(format!(
                "libjvm was looked for at {} (given explicitly): no such file",
                path.display()
            ))
        };
    }
    if let Some(home) = env::var_os("JAVA_HOME").filter(|h| !h.is_empty()) {
        let home = PathBuf::from(home);
        let candidates = under_home(&home);
        return candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
            format!(
                "JAVA_HOME is set to {}, but no JVM is there: libjvm was looked for at {} (none \
                 exists). Point JAVA_HOME at a JDK or JRE (the directory holding bin/java), or unset \
                 it to use the `java` on PATH",
                home.display(),
                joined(&candidates)
            )
        });
    }
    let mut looked = Vec::new();
    let java = java_on_path();
    if let Some(home) = java.as_deref().and_then(home_of_java) {
        let candidates = under_home(&home);
        if let Some(found) = candidates.iter().find(|p| p.is_file()) {
            return Ok(found.clone());
        }
        looked.extend(candidates);
    }
    let fallback: Vec<PathBuf> = match env::var_os(FALLBACK_ENV) {
        Some(list) => env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect(),
        None => vec![PathBuf::from(DEFAULT_FALLBACK)],
    };
    for home in &fallback {
        let candidates = under_home(home);
        if let Some(found) = candidates.iter().find(|p| p.is_file()) {
            return Ok(found.clone());
        }
        looked.extend(candidates);
    }
    let on_path = match &java {
        Some(java) => format!("the `java` on PATH is {}", java.display()),
        None => "no `java` is on PATH".to_owned(),
    };
    Err(format!(
        "could not find a JVM: JAVA_HOME is not set, {on_path}, and libjvm was looked for at {} \
         (none exists). Install a JDK or JRE (apt-get install default-jre-headless) or set JAVA_HOME",
        if looked.is_empty() {
            "no other place".to_owned()
        } else {
            joined(&looked)
        }
    ))
}

/// The places under a JDK or JRE home where libjvm may be.
fn under_home(home: &Path) -> Vec<PathBuf> {
    LIBJVM_DIRS
        .iter()
        .map(|dir| home.join(dir).join(LIBJVM))
        .collect()
}

fn joined(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first `java` file on `PATH`, as the shell would find it.
fn java_on_path() -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(JAVA))
        .find(|java| java.is_file())
}

/// The home of a `java` executable: its real path (through `/usr/bin/java` and the
/// alternatives links) without `bin/java`.
fn home_of_java(java: &Path) -> Option<PathBuf> {
    let real = java.canonicalize().ok()?;
    Some(real.parent()?.parent()?.to_path_buf())
}

#[cfg(windows)]
const JAVA: &str = "java.exe";
#[cfg(not(windows))]
const JAVA: &str = "java";

#[cfg(target_os = "macos")]
const LIBJVM: &str = "libjvm.dylib";
#[cfg(windows)]
const LIBJVM: &str = "jvm.dll";
#[cfg(not(any(target_os = "macos", windows)))]
const LIBJVM: &str = "libjvm.so";
