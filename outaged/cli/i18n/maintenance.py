"""outagectl maint (zh-CN and en): planned work, its windows and --help."""

from __future__ import annotations

EN: dict[str, str] = {
    "ctl.maint.title": "Planned work under way or to come ({n})",
    "ctl.maint.empty": "No planned work under way or to come.",
    "ctl.maint.added": "Planned work {id} declared at {element}; customer service and the NOC "
    "will be told 10 min before it starts and when it ends.",
    "ctl.maint.cancelled": "Planned work {id} called off; its notices not yet sent are withdrawn.",
    "ctl.maint.col.id": "ID",
    "ctl.maint.col.element": "Element",
    "ctl.maint.col.from": "From",
    "ctl.maint.col.to": "To",
    "ctl.maint.col.note": "Work",
    "ctl.maint.col.by": "Declared by",
    "help.maint": "planned work (cut-over) windows: add, list, cancel",
    "help.maint_add": "declare planned work: faults under the element in the window open nothing",
    "help.maint_element": "element id the work is on (everything under it is covered)",
    "help.maint_from": "start: an ISO-8601 time (display time zone if no offset), now, or +30m",
    "help.maint_to": "end: an ISO-8601 time, or +2h from now",
    "help.maint_note": "what the work is",
    "help.maint_list": "list planned work under way or to come",
    "help.maint_cancel": "call off planned work",
    "help.maint_id": "the window's id (maint list)",
    "err.no_window": "no planned work {id} under way or to come",
    "err.when": "{option}: {text!r} is not a time (ISO-8601, now, or +30m / +2h / +1d)",
}

ZH: dict[str, str] = {
    "ctl.maint.title": "进行中及计划中的割接（{n}）",
    "ctl.maint.empty": "没有进行中或计划中的割接。",
    "ctl.maint.added": "已登记割接 {id}（{element}）；开始前 10 分钟及结束时将通知客服与网管中心。",
    "ctl.maint.cancelled": "割接 {id} 已取消；尚未发出的通知已撤回。",
    "ctl.maint.col.id": "编号",
    "ctl.maint.col.element": "设备",
    "ctl.maint.col.from": "开始",
    "ctl.maint.col.to": "结束",
    "ctl.maint.col.note": "施工内容",
    "ctl.maint.col.by": "申报人",
    "help.maint": "割接（计划内施工）窗口：登记、查看、取消",
    "help.maint_add": "登记割接：窗口内该设备下的中断不开故障单",
    "help.maint_element": "施工所在设备编号（其下所有设备都在范围内）",
    "help.maint_from": "开始时间：ISO-8601 时间（无时区偏移时按显示时区）、now 或 +30m",
    "help.maint_to": "结束时间：ISO-8601 时间，或 +2h（自现在起）",
    "help.maint_note": "施工内容",
    "help.maint_list": "查看进行中及计划中的割接",
    "help.maint_cancel": "取消割接",
    "help.maint_id": "割接窗口编号（见 maint list）",
    "err.no_window": "没有进行中或计划中的割接 {id}",
    "err.when": "{option}：{text!r} 不是时间（ISO-8601、now，或 +30m / +2h / +1d）",
}
