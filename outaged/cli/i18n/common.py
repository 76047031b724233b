"""What every outagectl command shares (zh-CN and en): global options, the config
file, connection and HTTP errors, and `outaged check`.
"""

from __future__ import annotations

EN: dict[str, str] = {
    # outaged check
    "check.outages": "{db}: {n} open outages, {orphaned} would name removed elements",
    "check.assignee": (
        "warning: open outage {id} ({state}) is assigned to {person}, whom {file} does not "
        "list; reassign it (outagectl assign {id} PERSON)"
    ),
    "check.orphan.unwatched": (
        "warning: open outage {id} ({state}, root {root}) names elements {file} does not "
        "have: {elements}; it would stay open and workable, but the network would no longer "
        "judge it (restore and close it by hand)"
    ),
    "check.orphan.watched": (
        "warning: open outage {id} ({state}, root {root}) names elements {file} does not "
        "have: {elements}; it would still be judged on its other elements"
    ),
    # errors
    "err.unreachable": "cannot reach outaged at {url}: {reason}",
    "err.auth": "not allowed ({status}): {message}",
    "err.no_token": "no token given: set OUTAGED_TOKEN, pass --token or put `token:` in {path}",
    "err.not_found": "not found: {message}",
    "err.conflict": "refused: {message}",
    "err.rejected": "rejected ({status}): {message}",
    "err.server": "outaged answered {status}: {message}",
    "err.config": "config file {path}: {message}",
    "err.timeout": "outaged at {url} did not answer within {seconds}s",
    "err.bad_answer": "outaged at {url} sent something that is not the expected JSON: {message}",
    # outagectl --help
    "help.output": "wide: show ids beside the names",
    "err.usage": "outagectl: error: {message}",
    "err.conn.ECONNREFUSED": "Connection refused",
    "err.conn.EHOSTUNREACH": "No route to host",
    "err.conn.ENETUNREACH": "Network is unreachable",
    "err.conn.ECONNRESET": "Connection reset by peer",
    "err.conn.ETIMEDOUT": "Connection timed out",
    "err.conn.timeout": "no answer in time",
    "err.bad_token": "missing, unknown or revoked token",
    "err.forbidden": "this token's role may not do that",
    "err.tz": "--tz: unknown time zone {text!r}",
    "err.since": "--{option}: {text!r} is neither a duration (24h, 7d) nor an ISO-8601 time",
    "err.since_range": "--{option}: {text!r} is outside the years 1 to 9999",
    "cfg.no_file": "no such file",
    "cfg.unreadable": "cannot read: {reason}",
    "cfg.not_yaml": "not valid YAML",
    "cfg.not_mapping": "expected a mapping of url/token/lang/tz",
    "cfg.unknown_key": "unknown key; known: {known}",
    "cfg.not_string": "expected a string",
    "cfg.unknown_tz": "unknown time zone {text!r}",
    "err.url": "--url {url!r}: expected http://HOST:PORT",
    "help.url": "outaged API base URL (OUTAGED_URL; {url})",
    "help.token": "bearer token (OUTAGED_TOKEN)",
    "help.lang": "output language (OUTAGED_LANG)",
    "help.tz": "time zone for times shown (Asia/Shanghai, +08:00, local; default: the daemon's)",
    "help.config": "config file (~/.config/outaged/ctl.yaml)",
    "help.timeout": "seconds to wait for the daemon (10)",
    "help.prog": "Dispatch outages via outaged.",
    "help.json": "print the API's JSON",
}

ZH: dict[str, str] = {
    "check.outages": "{db}：{n} 个未关闭的故障单，其中 {orphaned} 个涉及已删除的元素",
    "check.assignee": (
        "警告：未关闭的故障单 {id}（{state}）的责任人 {person} 不在 {file} 的人员名单中；"
        "请改派（outagectl assign {id} 人员）"
    ),
    "check.orphan.unwatched": (
        "警告：未关闭的故障单 {id}（{state}，根因 {root}）涉及 {file} 中没有的元素：{elements}；"
        "该单仍可正常处理，但网络侧将不再监测（请人工确认恢复并关闭）"
    ),
    "check.orphan.watched": (
        "警告：未关闭的故障单 {id}（{state}，根因 {root}）涉及 {file} 中没有的元素：{elements}；"
        "其余元素仍在监测"
    ),
    "err.unreachable": "无法连接 outaged（{url}）：{reason}",
    "err.auth": "无权操作（{status}）：{message}",
    "err.no_token": "未提供令牌：请设置 OUTAGED_TOKEN、使用 --token，或在 {path} 中写入 `token:`",
    "err.not_found": "未找到：{message}",
    "err.conflict": "操作被拒绝：{message}",
    "err.rejected": "请求被拒绝（{status}）：{message}",
    "err.server": "outaged 返回 {status}：{message}",
    "err.config": "配置文件 {path}：{message}",
    "err.timeout": "outaged（{url}）在 {seconds} 秒内未响应",
    "err.bad_answer": "outaged（{url}）返回的不是预期的 JSON：{message}",
    "help.output": "wide：名称后同时显示编号",
    "err.usage": "outagectl：错误：{message}",
    "err.conn.ECONNREFUSED": "连接被拒绝",
    "err.conn.EHOSTUNREACH": "没有到主机的路由",
    "err.conn.ENETUNREACH": "网络不可达",
    "err.conn.ECONNRESET": "连接被对方重置",
    "err.conn.ETIMEDOUT": "连接超时",
    "err.conn.timeout": "未及时响应",
    "err.bad_token": "令牌缺失、未知或已吊销",
    "err.forbidden": "当前令牌的角色无权执行此操作",
    "err.tz": "--tz：未知的时区 {text!r}",
    "err.since": "--{option}：{text!r} 既不是时长（24h、7d）也不是 ISO-8601 时间",
    "err.since_range": "--{option}：{text!r} 超出 1 至 9999 年的范围",
    "cfg.no_file": "文件不存在",
    "cfg.unreadable": "无法读取：{reason}",
    "cfg.not_yaml": "不是有效的 YAML",
    "cfg.not_mapping": "应为包含 url/token/lang/tz 的映射",
    "cfg.unknown_key": "未知的配置项；可用：{known}",
    "cfg.not_string": "应为字符串",
    "cfg.unknown_tz": "未知的时区 {text!r}",
    "err.url": "--url {url!r}：应为 http://主机:端口",
    "help.url": "outaged 的 API 地址（OUTAGED_URL；默认 {url}）",
    "help.token": "访问令牌（OUTAGED_TOKEN）",
    "help.lang": "输出语言（OUTAGED_LANG）",
    "help.tz": "显示时间所用的时区（Asia/Shanghai、+08:00、local；默认与 outaged 一致）",
    "help.config": "配置文件（~/.config/outaged/ctl.yaml）",
    "help.timeout": "等待 outaged 响应的秒数（10）",
    "help.prog": "通过 outaged 处理故障单。",
    "help.json": "输出 API 返回的 JSON",
}
