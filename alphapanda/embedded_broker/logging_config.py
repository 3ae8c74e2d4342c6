"""Log configuration files for the broker (INFO to its log file) and for the console tools
(WARN to stderr, so that nothing but the tool's own output reaches stdout)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["log_config_flag"]

_LOG4J2 = """status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.target = {target}
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.out.ref = OUT
logger.state.name = state.change.logger
logger.state.level = WARN
"""

_LOG4J1 = """log4j.rootLogger={level}, out
log4j.appender.out=org.apache.log4j.ConsoleAppender
log4j.appender.out.Target={target}
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.state.change.logger=WARN
"""


def log_config_flag(folder: Path, major: int, *, tool: bool) -> str:
    """Write the configuration into ``folder`` and return the JVM flag that loads it."""
    level = "WARN" if tool else "INFO"
    name = f"log4j{'2' if major >= 4 else ''}-{'tool' if tool else 'broker'}.properties"
    path = folder / name
    if major >= 4:
        text = _LOG4J2.format(level=level, target="SYSTEM_ERR" if tool else "SYSTEM_OUT")
        flag = "-Dlog4j2.configurationFile="
    else:
        text = _LOG4J1.format(level=level, target="System.err" if tool else "System.out")
        flag = "-Dlog4j.configuration=file:"
    folder.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return f"{flag}{path}"
