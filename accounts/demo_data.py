"""Realistic demo identities: valid ID numbers (GB 11643), mobiles and names."""
from __future__ import annotations

import datetime as dt
import random

from core.identity import make_id_number

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红娥玲芬燕彬鹏辉浩宇欣怡子涵梓轩"
REGIONS = [
    ("110105", "北京市朝阳区"), ("310115", "上海市浦东新区"), ("440305", "深圳市南山区"), ("440106", "广州市天河区"),
    ("330106", "杭州市西湖区"), ("510107", "成都市武侯区"), ("420111", "武汉市洪山区"), ("320106", "南京市鼓楼区"),
    ("610113", "西安市雁塔区"), ("500112", "重庆市渝北区"),
]
STREETS = ["建国路", "人民路", "中山路", "解放路", "科技园路", "长江路", "和平街", "文化路"]
MOBILE_PREFIXES = ["130", "133", "135", "136", "138", "139", "150", "151", "158", "177", "186", "188", "199"]


def demo_identity(rng: random.Random, n: int) -> dict:
    region, city = rng.choice(REGIONS)
    birth = dt.date(1965, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 38))
    return {
        "name": rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2)))),
        "id_number": make_id_number(region, birth, n),
        "mobile": rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(0, 10**8):08d}",
        "address": f"{city}{rng.choice(STREETS)}{rng.randrange(1, 300)}号",
        "external_id": f"demo-{n:06d}",
    }
