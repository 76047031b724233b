"""outagectl status, reload and whoami (zh-CN and en): the daemon's state, its
cluster, a reload's outcome.
"""

from __future__ import annotations

EN: dict[str, str] = {
    "help.whoami": "the token's name and role",
    "help.queued": "what became of a request queued on a standby (several instances)",
    "help.queued_id": "the id a standby answered with (the queued field of its 202)",
    "help.status_cmd": "the daemon's health: topology, last reload, probes, outbox, open outages",
    "help.reload": "re-read topology and templates (admin); a broken file keeps the old ones",
    "ctl.status.daemon": "outaged {version}: {state}, up {uptime} (since {since})",
    "ctl.status.state.starting": "starting",
    "ctl.status.state.ready": "ready",
    "ctl.status.state.stopping": "stopping",
    "ctl.status.topology": (
        "Topology {source}: {elements} elements, {subscribers} subscribers, {people} people"
    ),
    "ctl.status.reload_ok": "Last reload: loaded at {at}",
    "ctl.status.reload_failed": (
        "Last reload at {at} REFUSED, the old configuration keeps running: {problems}"
    ),
    "ctl.status.prober": "{name} {state} ({elements} elements)",
    "ctl.status.prober_name.icmp": "ICMP pings",
    "ctl.status.prober_name.snmp": "SNMP polls",
    "ctl.status.prober_name.traps": "SNMP traps",
    "ctl.status.prober.running": "running",
    "ctl.status.prober.failed": "FAILED",
    "ctl.status.prober.stopped": "stopped",
    "ctl.status.prober.disabled": "disabled",
    "ctl.status.probers": "Probes: {list}",
    "ctl.status.outbox": "Outbox: {pending} messages pending",
    "ctl.status.outbox_waiting": "Outbox: {pending} messages pending, the oldest for {oldest}",
    "ctl.status.steps_ok": "Decision steps: committing",
    "ctl.status.steps_failing": "Decision steps: FAILING, the last {n} failed: {why}",
    "ctl.status.open": "Open outages: {total} ({by})",
    "ctl.status.ha": "Cluster: {me} {role}; leader {leader}, epoch {epoch}, renewed {age} ago",
    "ctl.status.ha_none": "Cluster: {me} {role}; no instance holds the lease now (epoch {epoch})",
    "ctl.status.ha_role.leader": "leads",
    "ctl.status.ha_role.standby": "stands by",
    "ctl.status.ha_member": (
        "  member {name} ({api}): heartbeat {age} ago, probes {probes} elements"
    ),
    "ctl.reload.done": "Reloaded: the new topology and templates are in use.",
    "ctl.reload.kept": "  outage {id} keeps the removed elements {elements} until it closes",
    "err.reload_refused": "reload refused, the old configuration keeps running:\n{problems}",
}

ZH: dict[str, str] = {
    "help.whoami": "当前令牌的名称和角色",
    "help.queued": "查看在备用实例排队的请求的结果（多实例部署）",
    "help.queued_id": "备用实例返回的编号（202 应答的 queued 字段）",
    "help.status_cmd": "守护进程状态：拓扑、上次重载、探测、待发通知、未结故障",
    "help.reload": "重新读取拓扑（联系人、阈值）和通知模板（管理员）；文件有误时保留旧配置",
    "ctl.status.daemon": "outaged {version}：{state}，已运行 {uptime}（自 {since}）",
    "ctl.status.state.starting": "启动中",
    "ctl.status.state.ready": "就绪",
    "ctl.status.state.stopping": "停止中",
    "ctl.status.topology": "拓扑 {source}：{elements} 个网元，{subscribers} 个用户，{people} 人",
    "ctl.status.reload_ok": "上次重载：{at} 加载成功",
    "ctl.status.reload_failed": "上次重载（{at}）被拒绝，继续使用旧配置：{problems}",
    "ctl.status.prober": "{name} {state}（{elements} 个网元）",
    "ctl.status.prober_name.icmp": "ICMP 探测",
    "ctl.status.prober_name.snmp": "SNMP 轮询",
    "ctl.status.prober_name.traps": "SNMP 陷阱接收",
    "ctl.status.prober.running": "运行中",
    "ctl.status.prober.failed": "故障",
    "ctl.status.prober.stopped": "已停止",
    "ctl.status.prober.disabled": "未启用",
    "ctl.status.probers": "探测：{list}",
    "ctl.status.outbox": "待发通知：{pending} 条",
    "ctl.status.outbox_waiting": "待发通知：{pending} 条，最早的已等待 {oldest}",
    "ctl.status.steps_ok": "决策步骤：正常提交",
    "ctl.status.steps_failing": "决策步骤：失败，最近 {n} 步失败：{why}",
    "ctl.status.open": "未结故障：{total}（{by}）",
    "ctl.status.ha": "集群：{me} {role}；主节点 {leader}，任期 {epoch}，{age}前续租",
    "ctl.status.ha_none": "集群：{me} {role}；当前无实例持有租约（任期 {epoch}）",
    "ctl.status.ha_role.leader": "为主节点",
    "ctl.status.ha_role.standby": "为备用节点",
    "ctl.status.ha_member": "  成员 {name}（{api}）：{age}前心跳，探测 {probes} 个元素",
    "ctl.reload.done": "已重载：新的拓扑和模板已生效。",
    "ctl.reload.kept": "  故障 {id} 保留已删除的网元 {elements}，直到故障关闭",
    "err.reload_refused": "重载被拒绝，继续使用旧配置：\n{problems}",
}
