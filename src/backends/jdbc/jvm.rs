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
/// still loaded, through a class loader of their own). libjvm is looked for in `JAVA_HOME`, then
/// under `/usr/lib/jvm/default-java`, then where the `java` on `PATH` lives. A failure is
/// remembered: every later call returns the same error.
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
    // The pool's fork counter: one relaxed load, where getpid is a system call per JNI call.
    if crate::pool::fork_generation() == jvm.fork_generation {
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
            fork_generation: crate::pool::fork_generation(),
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
        if crate::pool::fork_generation() != self.fork_generation {
            std::mem::forget(self.global.take());
        }
    }
}

/// Starts the JVM; the error says where libjvm was looked for, or why it did not start.
fn start(options: &JvmOptions) -> Result<Jvm, String> {
    // The fork check reads the pool's fork counter, whose handler must be in place first.
    crate::pool::watch_forks();
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
    if let Some(path) = options.libjvm.as_ref().filter(|p| !p.is_file()) {
        return Err(format!(
            "libjvm was looked for at {} (given explicitly): no such file",
            path.display()
        ));
    }
    let candidates = libjvm_candidates(options);
    let found = candidates.iter().find(|p| p.is_file()).cloned();
    let looked = candidates
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let vm = match found {
        Some(path) => JavaVM::with_libjvm(args, || Ok(path.clone()))
            .map_err(|err| format!("could not start the JVM from {}: {err}", path.display()))?,
        None => JavaVM::new(args).map_err(|err| {
            format!(
                "could not find or start a JVM: libjvm was looked for at {looked} (none exists), then \
                 through the `java` on PATH: {err}. Install a JDK or JRE (apt-get install default-jre-headless) \
                 or set JAVA_HOME"
            )
        })?,
    };
    let started_in = began.elapsed();
    log::debug!(target: "millpond::jdbc", "JVM started in {started_in:?} with class path {joined}");
    Ok(Jvm {
        vm,
        pid: std::process::id(),
        fork_generation: crate::pool::fork_generation(),
        class_path,
        started_in,
    })
}

/// Where libjvm may be: the explicit path, then under `JAVA_HOME`, then under the Debian
/// default JDK.
fn libjvm_candidates(options: &JvmOptions) -> Vec<PathBuf> {
    if let Some(path) = &options.libjvm {
        return vec![path.clone()];
    }
    let mut homes = Vec::new();
    if let Some(home) = env::var_os("JAVA_HOME").filter(|h| !h.is_empty()) {
        homes.push(PathBuf::from(home));
    }
    homes.push(PathBuf::from("/usr/lib/jvm/default-java"));
    let mut out = Vec::new();
    for home in homes {
        for sub in [
            "lib/server",
            "jre/lib/server",
            "jre/lib/amd64/server",
            "lib/client",
        ] {
            out.push(home.join(sub).join(LIBJVM));
        }
    }
    out
}

#[cfg(target_os = "macos")]
const LIBJVM: &str = "libjvm.dylib";
#[cfg(windows)]
const LIBJVM: &str = "jvm.dll";
#[cfg(not(any(target_os = "macos", windows)))]
const LIBJVM: &str = "libjvm.so";
