"""The products resource: list, create, read and delete products."""

from __future__ import annotations

from flask import Blueprint, url_for

from serving.api.errors import ApiError
from serving.api.pagination import page
from serving.api.schemas import Created, Entity, PageQuery, ProductCreate
from serving.api.spec import endpoint
from serving.api.users import create_entity
from serving.runtime.state import services

bp = Blueprint("products", __name__)


@bp.get("/products")
@endpoint(
    "List products, ascending by id (keyset pagination)",
    tag="products",
    query=PageQuery,
    responses={200: ("A page of products", list[Entity])},
)
def list_products(query: PageQuery):
    store = services().store
    return page(store.list_products, query, store.count_products())


@bp.post("/products")
@endpoint(
    "Create a product; the optional JSON body may carry external_id, category and attributes",
    tag="products",
    body=ProductCreate,
    body_required=False,
    responses={201: ("The new product's id", Created), 409: ("external_id is taken", None)},
)
def create_product(body: ProductCreate):
    product = create_entity(services().store.create_product, body)
    location = url_for("products.get_product", product_id=product["id"])
    return {"id": product["id"]}, 201, {"Location": location}


@bp.get("/products/<id:product_id>")
@endpoint("Read a product", tag="products", responses={200: ("The product", Entity)})
def get_product(product_id: int):
    product = services().store.get_product(product_id)
    if product is None:
        raise ApiError.unknown_product(product_id)
    return product


@bp.delete("/products/<id:product_id>")
@endpoint(
    "Delete a product and its activities",
    tag="products",
    responses={204: ("Deleted", None)},
)
def delete_product(product_id: int):
    if not services().store.delete_product(product_id):
        raise ApiError.unknown_product(product_id)
    return "", 204
